"""Deterministic demo data for a home-delivery co-op (生活協同組合の宅配), in Japanese.

`seed(org, size=2000)` fills an org with field-sales users, delivery-area accounts, members
(Contacts) and prospective members (Leads) with kana names, postal codes, addresses and phone
numbers, campaigns (one ending in 3 days) with members, and visit Tasks and Events with visit
results. Faker's ja_JP locale with a fixed seed makes every run the same (dates are relative to today).
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any

from faker import Faker

from devorg.org import DevOrg

SEED = 20261123
_AREAS = ("北センター", "南センター", "東センター", "西センター", "中央センター", "港センター")
_VISIT_RESULTS = ("在宅", "不在", "訪問不要")
_EMAIL_DOMAINS = ("example.jp", "example.com", "example.ne.jp")


def _address(fake: Faker) -> dict[str, str]:
    return {"postal": fake.zipcode(), "state": fake.prefecture(), "city": fake.city(),
            "street": f"{fake.town()}{fake.chome()}{fake.ban()}{fake.gou()}"}


def _person(fake: Faker, rng: random.Random, number: int) -> dict[str, Any]:
    last, last_kana, last_roman = fake.last_name_pair()
    first, first_kana, first_roman = fake.first_name_pair()
    email = f"{first_roman.lower()}.{last_roman.lower()}{number}@{rng.choice(_EMAIL_DOMAINS)}"
    return {"LastName": last, "FirstName": first, "LastNameKana__c": last_kana, "FirstNameKana__c": first_kana,
            "Email": email if rng.random() > 0.08 else None, "Phone": fake.phone_number(),
            "MobilePhone": fake.phone_number() if rng.random() > 0.5 else None}


def seed(org: DevOrg, size: int = 2000) -> dict[str, int]:
    """Fill `org` with about `size` people (60 % members, 40 % leads) and their activity; return counts."""
    fake = Faker("ja_JP")
    fake.seed_instance(SEED)
    rng = random.Random(SEED)
    today = datetime.now(org.tz).date()
    counts: dict[str, int] = {}

    def add(object_name: str, **fields: Any) -> str:
        counts[object_name] = counts.get(object_name, 0) + 1
        return org.insert(object_name, **{k: v for k, v in fields.items() if v is not None})

    with org.store.transaction():
        reps = [add("User", Username=f"rep{n}@coop.example.jp", LastName=fake.last_name(),
                    FirstName=fake.first_name(), Email=f"rep{n}@coop.example.jp", Alias=f"rep{n}",
                    Title="地域担当", Department=_AREAS[n % len(_AREAS)]) for n in range(1, 7)]
        accounts = []
        for n in range(60):
            area = _AREAS[n % len(_AREAS)]
            address = _address(fake)
            accounts.append(add("Account", Name=f"{address['city']}{area[:-4]}第{n + 1}班", Type="Customer",
                                Phone=fake.phone_number(), BillingPostalCode=address["postal"],
                                BillingState=address["state"], BillingCity=address["city"],
                                BillingStreet=address["street"], OwnerId=reps[n % len(reps)]))
        members = round(size * 0.6)
        contacts, leads = [], []
        for n in range(size):
            person = _person(fake, rng, n)
            address = _address(fake)
            owner = rng.choice(reps)
            if n < members:
                contacts.append(add(
                    "Contact", **person, AccountId=rng.choice(accounts), OwnerId=owner, Title="組合員",
                    MailingPostalCode=address["postal"], MailingState=address["state"],
                    MailingCity=address["city"], MailingStreet=address["street"], MailingCountry="日本",
                    Birthdate=fake.date_of_birth(minimum_age=25, maximum_age=85),
                    Tsunagi_Key__c=f"member-{n + 1:06d}", LeadSource=rng.choice(["Web", "Phone Inquiry", "Other"]),
                    HasOptedOutOfEmail=rng.random() < 0.05, Score__c=rng.randint(0, 80)))
            else:
                leads.append(add(
                    "Lead", **person, Company="個人", OwnerId=owner, PostalCode=address["postal"],
                    State=address["state"], City=address["city"], Street=address["street"], Country="日本",
                    Status=rng.choice(["Open - Not Contacted", "Working - Contacted", "Closed - Not Converted"]),
                    LeadSource=rng.choice(["Web", "Phone Inquiry", "Partner Referral"]),
                    Score__c=rng.randint(0, 60), Tsunagi_Key__c=f"lead-{n + 1:06d}"))
        campaigns = []
        for name, start, end, status in (
            ("秋の新規加入キャンペーン", -30, 3, "In Progress"),
            ("産直りんご予約", -10, 20, "In Progress"),
            ("おせち早期予約", 0, 45, "Planned"),
            ("夏のお試し宅配", -120, -60, "Completed"),
            ("子育て応援パック案内", -5, 60, "In Progress"),
        ):
            campaigns.append(add("Campaign", Name=name, Type="Direct Mail", Status=status,
                                 StartDate=today + timedelta(days=start), EndDate=today + timedelta(days=end),
                                 IsActive=status == "In Progress"))
        for campaign in campaigns:
            for contact in rng.sample(contacts, k=min(len(contacts), 80)):
                add("CampaignMember", CampaignId=campaign, ContactId=contact,
                    Status="Responded" if rng.random() < 0.2 else "Sent")
            for lead in rng.sample(leads, k=min(len(leads), 40)):
                add("CampaignMember", CampaignId=campaign, LeadId=lead, Status="Sent")
        people = contacts + leads
        for n in range(max(size // 5, 1)):
            who = rng.choice(people)
            day = today - timedelta(days=rng.randint(0, 30))
            result = rng.choice(_VISIT_RESULTS)
            add("Task", Subject="訪問", Type="Visit", WhoId=who, ActivityDate=day, OwnerId=rng.choice(reps),
                Status="Completed", Visit_Result__c=result, Priority="Normal",
                Description=f"{result}。" + ("次回は夕方に再訪問。" if result == "不在" else "チラシを手渡し。"))
            if n % 4 == 0:
                when = datetime.combine(today + timedelta(days=rng.randint(1, 14)), time(10 + n % 7), org.tz)
                add("Event", Subject="訪問予定", Type="Visit", WhoId=who, StartDateTime=when,
                    EndDateTime=when + timedelta(minutes=30), ActivityDateTime=when, DurationInMinutes=30,
                    ActivityDate=when.date(), OwnerId=rng.choice(reps), Location="組合員宅")
    return counts


def demo_day(org: DevOrg) -> date:
    """The org's local today (what the demo's relative dates hang on)."""
    return datetime.now(org.tz).date()
