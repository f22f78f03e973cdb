"""Deterministic demo data for a home-delivery co-op (生活協同組合の宅配), in Japanese.

`seed(org, size=2000)` fills an org with field-sales users, delivery-area accounts, members
(Contacts) and prospective members (Leads) with kana names, postal codes, addresses and phone
numbers, campaigns (one ending in 3 days) with members, and visit Tasks and Events with visit
results. Faker's ja_JP locale with a fixed seed makes every run the same (dates are relative to today).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from faker import Faker

from devorg.org import DevOrg

SEED = 20261123
_AREAS = ("北センター", "南センター", "東センター", "西センター", "中央センター", "港センター")
_VISIT_RESULTS = ("在宅", "不在", "訪問不要")
_EMAIL_DOMAINS = ("example.jp", "example.com", "example.ne.jp")
# (name, start and end in days from today, status)
_CAMPAIGNS = (
    ("秋の新規加入キャンペーン", -30, 3, "In Progress"),
    ("産直りんご予約", -10, 20, "In Progress"),
    ("おせち早期予約", 0, 45, "Planned"),
    ("夏のお試し宅配", -120, -60, "Completed"),
    ("子育て応援パック案内", -5, 60, "In Progress"),
)
# What a hot lead's opportunity sells, and its amount in yen.
_OFFERS = (("宅配加入 年間契約", 120000), ("産直りんご 定期便", 36000), ("おせち 三段重", 24800),
           ("子育て応援パック 年間", 60000), ("お試し宅配 4週", 8000))
_OPEN_STAGES = ("Qualification", "Needs Analysis", "Proposal/Price Quote", "Negotiation/Review")


# A member's Contact fields as a person account names them (Salesforce's Person prefix).
_PERSON_ACCOUNT_FIELDS = {
    "Email": "PersonEmail", "MobilePhone": "PersonMobilePhone", "Birthdate": "PersonBirthdate",
    "HasOptedOutOfEmail": "PersonHasOptedOutOfEmail", "LeadSource": "PersonLeadSource", "Title": "PersonTitle",
    **{f"Mailing{part}": f"PersonMailing{part}" for part in ("Street", "City", "State", "PostalCode", "Country")},
}


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
        # Another org definition (DEVORG_DEFINITION) may lack the demo's custom fields: fill what it has.
        obj = org.schema.objects[object_name]
        return org.insert(object_name, **{k: v for k, v in fields.items() if v is not None and obj.field(k)})


    def add_member(_object_name: str, **fields: Any) -> str:
        """With Person Accounts on, a member is a person account; its Contact id stands in for it below
        (campaign members and visits name a person account by its Contact, as in Salesforce)."""
        fields.pop("AccountId", None)
        account = add("Account", **{_PERSON_ACCOUNT_FIELDS.get(k, k): v for k, v in fields.items()})
        inserted = org.get("Account", account)
        assert inserted is not None  # inserted just above
        return str(inserted["PersonContactId"])

    with org.store.transaction():
        # rep1's mail is the `make run` demo's sales sign-in, so that rep sees their own customers
        # (担当のお客様) and their phone in the 不在 mail without an admin linking the two first.
        reps = [add("User", Username=f"rep{n}@coop.example.jp", LastName=fake.last_name(),
                    FirstName=fake.first_name(), Email="sales@example.jp" if n == 1 else f"rep{n}@coop.example.jp",
                    Alias=f"rep{n}", Phone=f"03-5555-01{n:02d}", Title="地域担当",
                    Department=_AREAS[n % len(_AREAS)]) for n in range(1, 7)]
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
        created: dict[str, date] = {}
        previous_clock = org.store.clock
        for n in range(size):
            person = _person(fake, rng, n)
            address = _address(fake)
            owner = rng.choice(reps)
            # Members joined the co-op months or years ago; prospects arrived over the last five months
            # (dates from the index, not the random stream, so every other value stays as it was).
            since = today - timedelta(days=200 + (n * 37) % 900 if n < members else (n * 13) % 150)
            org.set_clock(datetime.combine(since, time(10), org.tz))
            if n < members:
                contacts.append((add_member if org.schema.person_accounts else add)(
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
            created[(contacts if n < members else leads)[-1]] = since
        org.set_clock(previous_clock)
        campaigns = []
        for name, start, end, status in _CAMPAIGNS:
            campaigns.append(add("Campaign", Name=name, Type="Direct Mail", Status=status,
                                 StartDate=today + timedelta(days=start), EndDate=today + timedelta(days=end),
                                 IsActive=status == "In Progress"))
        memberships: dict[str, list[tuple[date, str]]] = {}
        try:
            for number, (campaign, (_name, start, end, _status)) in enumerate(zip(campaigns, _CAMPAIGNS, strict=True)):
                # Members join while the campaign runs (never later than today), so campaign influence
                # has touches that come before the opportunities they led to.
                first, last = today + timedelta(days=start), min(today + timedelta(days=end), today)
                span = max((last - first).days, 0)
                for index, contact in enumerate(rng.sample(contacts, k=min(len(contacts), 80))):
                    joined = max(first + timedelta(days=(index * 7 + number) % (span + 1)), created[contact])
                    org.set_clock(datetime.combine(joined, time(9), org.tz))
                    add("CampaignMember", CampaignId=campaign, ContactId=contact,
                        Status="Responded" if rng.random() < 0.2 else "Sent")
                    memberships.setdefault(contact, []).append((joined, campaign))
                for index, lead in enumerate(rng.sample(leads, k=min(len(leads), 40))):
                    joined = max(first + timedelta(days=(index * 5 + number) % (span + 1)), created[lead])
                    org.set_clock(datetime.combine(joined, time(9), org.tz))
                    add("CampaignMember", CampaignId=campaign, LeadId=lead, Status="Sent")
                    memberships.setdefault(lead, []).append((joined, campaign))
        finally:
            org.set_clock(previous_clock)
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
        _hot_leads_to_opportunities(org, add, counts, today, contacts, leads, accounts, memberships)
    return counts


def _hot_leads_to_opportunities(org: DevOrg, add: Callable[..., str], counts: dict[str, int], today: date,
                                contacts: list[str], leads: list[str], accounts: list[str],
                                memberships: dict[str, list[tuple[date, str]]]) -> None:
    """Hot-lead hand-offs (the Task scoring writes), some turned into opportunities: won, lost or open.

    Members of campaigns are handed off after they joined; about two in three hand-offs become an
    opportunity whose primary campaign source is one of the person's campaigns; a lead
    whose opportunity opens is converted (a Contact, IsConverted, Converted*Id, ConvertedDate).
    Records are stamped at the day they happen (the org's clock), and a separate random stream
    keeps the rest of the seed exactly as before.
    """
    rng = random.Random(SEED + 16)
    previous_clock = org.store.clock
    people = [p for p in contacts + leads if p in memberships]
    hot = sorted(rng.sample(people, k=min(len(people), max(len(contacts) // 12, 2))))
    try:
        for number, person in enumerate(hot):
            joined, campaign = rng.choice(sorted(memberships[person]))
            is_lead = person.startswith("00Q")
            record = org.get("Lead" if is_lead else "Contact", person) or {}
            handed = min(joined + timedelta(days=rng.randint(1, 20)), today)
            org.set_clock(datetime.combine(handed, time(11), org.tz))
            score = rng.randint(100, 140)
            add("Task", Subject=f"ホットリード: スコア {score}", WhoId=person, ActivityDate=handed,
                Status="Completed" if handed < today - timedelta(days=3) else "Not Started", Priority="High",
                OwnerId=record.get("OwnerId"),
                Description=f"スコアが hot_lead (100) を超えました: {score}")
            if rng.random() > 0.65:
                continue  # handed off, no opportunity (yet)
            opened = min(handed + timedelta(days=rng.randint(1, 7)), today)
            org.set_clock(datetime.combine(opened, time(15), org.tz))
            contact, account = person, record.get("AccountId")
            if is_lead:
                account = accounts[number % len(accounts)]
                contact = add("Contact", LastName=record["LastName"], FirstName=record.get("FirstName"),
                              LastNameKana__c=record.get("LastNameKana__c"),
                              FirstNameKana__c=record.get("FirstNameKana__c"), Email=record.get("Email"),
                              Phone=record.get("Phone"), AccountId=account, OwnerId=record.get("OwnerId"),
                              LeadSource=record.get("LeadSource"), Title="組合員",
                              # Conversion maps the lead's address to the contact's mailing address.
                              MailingPostalCode=record.get("PostalCode"), MailingState=record.get("State"),
                              MailingCity=record.get("City"), MailingStreet=record.get("Street"),
                              MailingCountry=record.get("Country"),
                              Tsunagi_Key__c=f"converted-{person[:15]}")
            offer, amount = _OFFERS[rng.randrange(len(_OFFERS))]
            close = opened + timedelta(days=rng.randint(5, 30))
            if close <= today:
                stage = "Closed Won" if rng.random() < 0.6 else "Closed Lost"
            else:
                stage = rng.choice(_OPEN_STAGES)
            opportunity = add("Opportunity", Name=f"{record.get('LastName', '')}様 {offer}",
                              StageName="Qualification" if stage.startswith("Closed") else stage,
                              Amount=amount, CloseDate=close, AccountId=account, ContactId=contact,
                              CampaignId=campaign, LeadSource=record.get("LeadSource"),
                              OwnerId=record.get("OwnerId"), Type="New Customer" if is_lead else None)
            add("OpportunityContactRole", OpportunityId=opportunity, ContactId=contact,
                Role="Decision Maker", IsPrimary=True)
            if is_lead:
                counts["converted_leads"] = counts.get("converted_leads", 0) + 1
                # Converted now (the lead was created by this seed today): its stamps never go back.
                org.set_clock(previous_clock)
                org.update("Lead", person, IsConverted=True, Status="Closed - Converted",
                           ConvertedContactId=contact, ConvertedAccountId=account,
                           ConvertedOpportunityId=opportunity, ConvertedDate=opened)
            if stage.startswith("Closed"):
                # The deal closes on its close date: the stage changes then.
                org.set_clock(datetime.combine(close, time(17), org.tz))
                org.update("Opportunity", opportunity, StageName=stage)
    finally:
        org.set_clock(previous_clock)


def demo_day(org: DevOrg) -> date:
    """The org's local today (what the demo's relative dates hang on)."""
    return datetime.now(org.tz).date()
