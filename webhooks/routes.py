"""POST /webhooks/salesforce/outbound: validate, store, ack. Nothing else happens on the request.

Checks, in order: body size; the sender's address against OUTBOUND_ALLOWED_NETWORKS (when set);
the SOAP envelope and the org id; the rate limit. A notification is only a hint that records
changed: the worker (webhooks.jobs) fetches those records from Salesforce and applies what
Salesforce returns, so nothing a sender writes into a message reaches the mirror.

Salesforce treats every answer other than an Ack as "not delivered" and sends the message again
later (growing gaps up to two hours, for 24 hours). So a refusal loses nothing Salesforce really
sent: a rate-limited message is answered 503 with a SOAP fault and comes back later, and the
poll cycle picks up the change meanwhile.
"""

from __future__ import annotations

import logging

from flask import Response, request

import db
from config import settings_of
from web.clients import request_client_key
from webhooks import bp, outbound, service

log = logging.getLogger(__name__)


def _soap(body: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status=status, content_type="text/xml; charset=utf-8", headers=headers)


@bp.route("/salesforce/outbound", methods=["POST"])
def salesforce_outbound() -> Response:
    """Accept a Salesforce Outbound Message: SOAP Ack once stored, SOAP fault otherwise."""
    settings = settings_of()
    if (request.content_length or 0) > outbound.MAX_BODY_BYTES:
        return _soap(outbound.fault("message too large"), 500)
    if not service.allowed_source(settings, request.remote_addr):
        log.warning("outbound message refused: %s is not in OUTBOUND_ALLOWED_NETWORKS", request.remote_addr)
        return _soap(outbound.fault("source address not allowed"), 403)
    try:
        message = outbound.parse(request.get_data(cache=False))
        expected = service.expected_org_id(settings)
        if not expected:
            raise outbound.OutboundError("this service has no SALESFORCE_ORG_ID to check messages against")
        if not outbound.same_org(message.organization_id, expected):
            raise outbound.OutboundError("OrganizationId does not match this service's org")
    except outbound.OutboundError as exc:
        log.warning("outbound message refused from %s: %s", request.remote_addr, exc)
        return _soap(outbound.fault(str(exc)), 500)
    client = request_client_key()
    with db.transaction() as session:
        # A retry of a message already stored costs nothing more: ack it so Salesforce stops.
        limited = None if service.all_stored(session, message) else service.over_rate_limit(session, settings, client)
        if limited is None:
            stored = service.store(session, message, client)
    if limited is not None:
        log.warning("outbound message from %s refused: %s rate limit reached", request.remote_addr, limited)
        return _soap(outbound.fault("rate limit reached; send again later", code="Server"), 503,
                     {"Retry-After": str(min(settings.outbound_rate_window_seconds, 3600))})
    log.info("outbound message: %d notifications, %d new", len(message.notifications), stored)
    return _soap(outbound.ack(), 200)
