"""Web tracking: page views from the customer's own site, and visitor → person links.

How it fits together:
- The site embeds `<script async src="https://tsunagi.example/t/t.js"></script>`. The script keeps
  a first-party visitor id in a cookie *on the customer's domain* (`tsunagi_vid`, ~13 months)
  and requests `/t/p.gif?v=<vid>&u=<url>&t=<title>&r=<referrer>` once per page.
- Mail's click redirect appends `tsn=<person_token(person_id)>` to destinations on
  TRACKING_LINK_DOMAINS (the customer's own sites, never others); the script forwards it as
  `&p=`, and the pixel links that visitor to the person (`link_visitor`).
- The script also appends `tvid=<vid>.<unix time>` to links and iframes on the page that open this
  service's public forms (`<base>/f/…`), like a cross-domain linker: those forms live on tsunagi's
  host and cannot read the customer's cookie; the time (refreshed when a link is followed) makes a
  copied form URL stop linking after LINKER_MAX_AGE_S. The form carries the id and, once the submission's person is
  known, links the visitor to them (`linked_by` `form`, see forms.service).
- The pixel does one INSERT (an `activities` row of kind `page_view`, person unknown); the
  scoring worker resolves the person from `tracking_visitors` and scores it.
- Do Not Track / Global Privacy Control are honoured when TRACKING_HONOUR_DNT is on; bots are
  dropped by user agent, and hits without a visitor id (no script, no cookie) are dropped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from activity.models import Activity
from db import utcnow
from scoring import progress
from scoring.models import TrackingVisitor

# Crawlers, link previews, monitors and headless automation announce themselves in the UA.
BOT_UA = re.compile(
    r"bot|crawl|spider|slurp|archiver|facebookexternalhit|embedly|preview|monitor|pingdom|uptime|"
    r"lighthouse|pagespeed|headless|phantomjs|python-requests|python-urllib|curl|wget|go-http-client|"
    r"java/|okhttp|axios|node-fetch|httpclient|scrapy", re.IGNORECASE)
# \Z, not $: "$" also matches before a trailing newline, which would let a 65-character id through.
VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}\Z")
URL_MAX, TITLE_MAX = 2000, 300
TOKEN_SALT = "tsunagi.tracking.person"  # noqa: S105  (a signing namespace, not a secret)
TOKEN_MAX_AGE = 90 * 86400  # a mail link stays able to link a visitor for 90 days
# A form link's `tvid` (visitor id and the browser's clock when it was tagged) counts this long, so
# that a form URL copied from the address bar and shared later does not hand the visitor to others.
LINKER_MAX_AGE_S = 600


def is_bot(user_agent: str) -> bool:
    """True for empty user agents and ones that name a crawler, preview or script."""
    return not user_agent.strip() or bool(BOT_UA.search(user_agent))


def person_token(secret_key: str, person_id: str) -> str:
    """A signed, expiring token naming a person, for mail links (`?tsn=`)."""
    return URLSafeTimedSerializer(secret_key, salt=TOKEN_SALT).dumps(person_id)


def person_from_token(secret_key: str, token: str) -> str | None:
    """The person id of a valid token, None when forged or older than 90 days."""
    try:
        value = URLSafeTimedSerializer(secret_key, salt=TOKEN_SALT).loads(token, max_age=TOKEN_MAX_AGE)
    except BadSignature:
        return None
    return value if isinstance(value, str) and 15 <= len(value) <= 18 and value.isalnum() else None


def visitor_from_link(value: str, now: float | None = None) -> str | None:
    """The visitor id of a form link's `tvid` (`<visitor id>.<unix seconds>`), None when malformed
    or tagged more than LINKER_MAX_AGE_S from now (either way: a stale copy or a skewed clock)."""
    visitor_id, _, stamp = value.rpartition(".")
    if not VISITOR_ID.match(visitor_id) or not stamp.isdigit() or len(stamp) > 12:
        return None
    now = time.time() if now is None else now
    return visitor_id if abs(now - int(stamp)) <= LINKER_MAX_AGE_S else None


def do_not_track(header: Callable[[str], str | None], honour_dnt: bool) -> bool:
    """True when the browser asks not to be tracked (DNT or GPC) and TRACKING_HONOUR_DNT is on."""
    return honour_dnt and (header("DNT") == "1" or header("Sec-GPC") == "1")


def accepted_page_view(args: Mapping[str, str], header: Callable[[str], str | None],
                       honour_dnt: bool) -> dict[str, Any] | None:
    """The `page_view` row a pixel hit should store, or None when it is not to be recorded.

    Dropped: Do Not Track / Global Privacy Control (when honoured), bots, hits without a visitor id
    (no script or no cookie: scrapers, prefetchers) and pages that are not http(s) URLs.
    """
    if do_not_track(header, honour_dnt):
        return None
    if is_bot(header("User-Agent") or ""):
        return None
    visitor_id, url = args.get("v", ""), args.get("u", "")
    if not VISITOR_ID.match(visitor_id) or not url.startswith(("http://", "https://")) or len(url) > URL_MAX:
        return None
    return page_view_row(visitor_id, url, args.get("t", ""), args.get("r", ""))


def page_view_row(visitor_id: str, url: str, title: str, referrer: str) -> dict[str, Any]:
    """Values of one `page_view` activity row (for a bulk-friendly Core insert)."""
    return {"kind": "page_view", "visitor_id": visitor_id, "person_id": None, "occurred_at": utcnow(),
            "details": {"url": url[:URL_MAX], "title": title[:TITLE_MAX], "referrer": referrer[:URL_MAX]}}


def record_page_views(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert page views in one statement."""
    if rows:
        session.execute(insert(Activity), rows)


def link_visitor(session: Session, visitor_id: str, person_id: str, linked_by: str = "") -> bool:
    """Tie a visitor id to a person (call in your transaction). Returns False for a bad visitor id.

    The visitor's earlier anonymous page views are given to the person and put back in the
    scoring queue, so browsing before the first mail click still counts. A visitor id later seen
    with another person is re-linked to the newer one (a shared computer: the latest wins).
    Only page views follow the visitor: another activity carrying a visitor id (a form submission
    whose Lead is still being written) belongs to its own person, whoever the browser was.
    """
    if not VISITOR_ID.match(visitor_id or "") or not person_id:
        return False
    existing = session.get(TrackingVisitor, visitor_id)
    if existing is None:
        session.add(TrackingVisitor(visitor_id=visitor_id, person_id=person_id, linked_by=linked_by))
    elif existing.person_id != person_id:
        existing.person_id, existing.linked_at, existing.linked_by = person_id, utcnow(), linked_by
    given = session.scalars(update(Activity)
                            .where(Activity.visitor_id == visitor_id, Activity.person_id.is_(None),
                                   Activity.kind == "page_view")
                            .values(person_id=person_id).returning(Activity.id)
                            .execution_options(synchronize_session=False)).all()
    progress.requeue(session, given)
    session.flush()
    return True


def visitor_person(session: Session, visitor_id: str) -> str | None:
    """The person a visitor id is linked to."""
    return session.scalar(select(TrackingVisitor.person_id).where(TrackingVisitor.visitor_id == visitor_id))


SNIPPET = r"""(function(w,d){
  'use strict';
  var n=w.navigator||{}, me=d.currentScript, base=%(base)s;
  // Report to wherever the script came from (proxies and custom domains just work).
  if(me&&me.src){base=me.src.replace(/\/t\/t\.js(\?.*)?$/,'');}
  if(%(dnt)s&&(n.doNotTrack==='1'||w.doNotTrack==='1'||n.globalPrivacyControl===true))return;
  function get(k){var m=d.cookie.match(new RegExp('(?:^|; )'+k+'=([^;]*)'));return m?decodeURIComponent(m[1]):'';}
  var vid=get('tsunagi_vid');
  if(!/^[A-Za-z0-9_-]{16,64}$/.test(vid)){
    var a=new Uint8Array(16);(w.crypto||w.msCrypto).getRandomValues(a);
    vid=Array.prototype.map.call(a,function(b){return('0'+b.toString(16)).slice(-2);}).join('');
  }
  d.cookie='tsunagi_vid='+vid+'; path=/; max-age=%(max_age)d; SameSite=Lax'+
    (location.protocol==='https:'?'; Secure':'');
  var p='';try{p=new URLSearchParams(location.search).get('tsn')||'';}catch(e){}
  var q='v='+encodeURIComponent(vid)+'&u='+encodeURIComponent(location.href.slice(0,2000))+
        '&t='+encodeURIComponent(d.title.slice(0,300))+'&r='+encodeURIComponent(d.referrer.slice(0,2000))+
        (p?'&p='+encodeURIComponent(p):'');
  (new Image()).src=base+'/t/p.gif?'+q;
  // Links and iframes to our public forms carry the id (they are served from our host, not this one).
  var forms=base+'/f/';
  function tag(u){
    if(!vid||typeof u!=='string'||u.indexOf(forms)!==0)return u;
    var h=u.indexOf('#'),frag=h<0?'':u.slice(h);if(h>=0)u=u.slice(0,h);
    u=u.replace(/([?&])tvid=[^&]*&?/,'$1').replace(/[?&]$/,'');
    return u+(u.indexOf('?')<0?'?':'&')+'tvid='+vid+'.'+Math.floor(new Date().getTime()/1000)+frag;
  }
  function link(el){var k=el.nodeName==='IFRAME'?'src':'href',u=el[k],t=tag(u);if(t!==u)el[k]=t;}
  function fill(){
    var f=d.querySelectorAll('input[name=tsunagi_vid]'),i;for(i=0;i<f.length;i++)f[i].value=vid;
    f=d.querySelectorAll('a[href],iframe[src]');for(i=0;i<f.length;i++)link(f[i]);
  }
  if(d.readyState==='loading')d.addEventListener('DOMContentLoaded',fill);else fill();
  // Links are tagged again as they are followed: links added after load, and a fresh time on all.
  function follow(e){var a=e.target;while(a&&a.nodeName!=='A')a=a.parentNode;if(a&&a.href)link(a);}
  d.addEventListener('mousedown',follow,true);d.addEventListener('click',follow,true);
})(window,document);
"""


def snippet(base_url: str, honour_dnt: bool, cookie_days: int) -> str:
    """The tracking script for the customer's site, bound to this service's public URL."""
    import json

    return SNIPPET % {"base": json.dumps(base_url.rstrip("/")), "dnt": "true" if honour_dnt else "false",
                      "max_age": cookie_days * 86400}
