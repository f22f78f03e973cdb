"""POST /webhooks/salesforce/outbound: validate, store, ack. Nothing else happens on the request."""

from __future__ import annotations

import logging

from flask import Response, current_app, request

import db
from webhooks import bp, outbound, service

log = logging.getLogger(__name__)


def _soap(body: str, status: int) -> Response:
    return Response(body, status=status, content_type="text/xml; charset=utf-8")


@bp.route("/salesforce/outbound", methods=["POST"])
def salesforce_outbound() -> Response:
    """Accept a Salesforce Outbound Message: SOAP Ack once stored, SOAP fault (HTTP 500) otherwise."""
    if (request.content_length or 0) > outbound.MAX_BODY_BYTES:
        return _soap(outbound.fault("message too large"), 500)
    try:
        message = outbound.parse(request.get_data(cache=False))
        expected = service.expected_org_id(current_app.config["TSUNAGI"])
        if not expected:
            raise outbound.OutboundError("this service has no SALESFORCE_ORG_ID to check messages against")
        if not outbound.same_org(message.organization_id, expected):
            raise outbound.OutboundError("OrganizationId does not match this service's org")
    except outbound.OutboundError as exc:
        log.warning("outbound message refused from %s: %s", request.remote_addr, exc)
        return _soap(outbound.fault(str(exc)), 500)
    with db.transaction() as session:
        stored = service.store(session, message)
    log.info("outbound message: %d notifications, %d new", len(message.notifications), stored)
    return _soap(outbound.ack(), 200)
