"""The web shell: Japanese first with English available, per-role home pages from the nav registry."""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from web import nav
from web.i18n import lazy_gettext as _l

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "translations" / "en" / "LC_MESSAGES" / "messages.po"
# The Makefile's BABEL_EXTRACT --ignore-dirs.
IGNORED_DIRS = (".*", "_*", "tests", "instance", "migrations", "bench", "node_modules")
# Packages known to have screens; the scan must find strings in each, so a broken scan cannot pass unnoticed.
UI_PACKAGES = {"web", "people", "forms", "automations", "mail", "sync", "writeback", "scoring", "reports", "devorg"}


def test_pages_are_japanese_by_default(client):
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="ja">' in page
    assert "サインイン" in page and "本文へ移動" in page


def test_english_is_chosen_with_lang_and_remembered(client):
    page = client.get("/login?lang=en")
    assert '<html lang="en">' in page.get_data(as_text=True)
    assert "Sign in" in page.get_data(as_text=True) and "Skip to content" in page.get_data(as_text=True)
    assert "lang=en" in page.headers["Set-Cookie"]
    assert "Sign in" in client.get("/login").get_data(as_text=True)


def test_browser_language_is_honoured(client):
    page = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert "Email address" in page


def test_error_pages_speak_the_persons_language(sign_in):
    operator = sign_in("operator")
    assert "You do not have permission" in operator.get("/admin/users?lang=en").get_data(as_text=True)


def test_each_role_home_lists_only_its_links_and_skips_pages_that_do_not_exist(app, sign_in):
    @app.route("/test-visit")
    def visit_page():
        return "visit"

    nav.register(app, "sales", _l("訪問結果"), "visit_page", description=_l("営業"))
    nav.register(app, "sales", _l("まだない画面"), "nowhere.page")
    sales_home = sign_in("sales").get("/").get_data(as_text=True)
    assert 'href="/test-visit"' in sales_home and "訪問結果" in sales_home
    assert "まだない画面" not in sales_home
    assert "/admin/users" not in sales_home

    admin_home = sign_in("admin").get("/").get_data(as_text=True)
    assert 'href="/admin/users"' in admin_home and 'href="/admin/audit"' in admin_home
    assert 'href="/test-visit"' not in admin_home


def test_unknown_role_in_nav_is_refused(app):
    with pytest.raises(ValueError, match="unknown role"):
        nav.register(app, "boss", "x", "web.home")


@pytest.mark.db_independent
def test_every_ui_string_has_an_english_translation_and_the_mo_is_compiled():
    # Scan what `make translations` extracts: babel.cfg's mapping, the default keywords plus _l and lazy_gettext,
    # every directory except the Makefile's --ignore-dirs, so a new package is covered without editing this test.
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    with PO.open("rb") as f:
        catalog = read_po(f, locale="en")
    with PO.with_suffix(".mo").open("rb") as f:
        compiled = read_mo(f)
    packages, untranslated = set(), []
    for filename, _line, message, _comments, context in extract_from_dir(
            ROOT, method_map, options_map, keywords={**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None},
            directory_filter=lambda path: not any(fnmatch(Path(path).name, p) for p in IGNORED_DIRS)):
        packages.add(Path(filename).parts[0])
        msgid = message if isinstance(message, str) else message[0]
        entry = catalog.get(msgid, context)
        if entry is None or not all(entry.string if isinstance(entry.string, tuple) else [entry.string]):
            untranslated.append(f"{msgid} ({filename})")
        elif compiled.get(msgid, context) is None or compiled.get(msgid, context).string != entry.string:
            untranslated.append(f"{msgid} (run `make translations` to compile)")
    assert not UI_PACKAGES - packages, f"no UI strings found in {sorted(UI_PACKAGES - packages)}"
    assert not untranslated, f"add English to {PO}: {untranslated}"


@pytest.mark.db_independent
def test_english_translations_keep_every_placeholder():
    with PO.open("rb") as f:
        catalog = read_po(f, locale="en")
    problems = [f"{message.id}: {error}" for message, errors in catalog.check() for error in errors]
    assert not problems, f"fix the placeholders in {PO}: {problems}"


def test_every_page_gets_baseline_security_headers(client):
    headers = client.get("/login").headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "SAMEORIGIN"


def test_a_page_meant_for_embedding_keeps_its_own_frame_policy(app, client):
    @app.route("/test-embeddable")
    def embeddable():
        return "form", 200, {"Content-Security-Policy": "frame-ancestors https://coop.example.jp"}

    assert "X-Frame-Options" not in client.get("/test-embeddable").headers


def test_expired_or_missing_csrf_token_says_to_reload_and_resend(make_app):
    app = make_app(config={"WTF_CSRF_ENABLED": True})
    response = app.test_client().post("/login", data={"email": "a@example.jp", "password": "x" * 12})
    assert response.status_code == 400
    assert "ページを再読み込みして、もう一度送信してください" in response.get_data(as_text=True)


def test_sign_in_form_shows_which_field_is_missing(client):
    response = client.post("/login", data={"email": "", "password": ""})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'aria-invalid="true"' in page and "error-text" in page
