"""`make compliance`: run the tests tagged `@pytest.mark.spec(...)` and write docs/compliance.md from the outcomes.

    pytest -p tests.compliance_plugin -m spec --compliance-report docs/compliance.md

Each `spec` marker names (specification, section or OpenID conformance module, requirement). Workers copy
the markers into the report's `user_properties`, so the matrix is right under pytest-xdist too.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pytest

TITLES = {
    "RFC 6749": "RFC 6749 — OAuth 2.0",
    "RFC 6750": "RFC 6750 — Bearer token usage",
    "RFC 7009": "RFC 7009 — Token revocation",
    "RFC 7636": "RFC 7636 — PKCE",
    "RFC 7662": "RFC 7662 — Token introspection",
    "RFC 8414": "RFC 8414 — Authorization server metadata",
    "RFC 8693": "RFC 8693 — Token exchange",
    "RFC 8707": "RFC 8707 — Resource indicators",
    "RFC 9068": "RFC 9068 — JWT access tokens",
    "RFC 9207": "RFC 9207 — Authorization server issuer identification",
    "RFC 9700": "RFC 9700 — OAuth 2.0 Security Best Current Practice",
    "OIDC Core": "OpenID Connect Core 1.0",
    "OIDC Discovery": "OpenID Connect Discovery 1.0",
    "OIDC RP-Initiated Logout": "OpenID Connect RP-Initiated Logout 1.0",
    "OIDC Back-Channel Logout": "OpenID Connect Back-Channel Logout 1.0",
    "OIDF": "OpenID conformance suite — Basic OP and Config OP modules",
}

# Every module of the Basic OP and Config OP certification plans: each has a passing test or a reason here.
CONFORMANCE_MODULES = [
    "oidcc-server", "oidcc-server-client-secret-post", "oidcc-response-type-missing", "oidcc-userinfo-get",
    "oidcc-userinfo-post-header", "oidcc-userinfo-post-body", "oidcc-ensure-request-without-nonce-succeeds-for-code-flow",
    "oidcc-scope-profile", "oidcc-scope-email", "oidcc-scope-address", "oidcc-scope-phone", "oidcc-scope-all",
    "oidcc-ensure-other-scope-order-succeeds", "oidcc-display-page", "oidcc-display-popup", "oidcc-prompt-login",
    "oidcc-prompt-none-not-logged-in", "oidcc-prompt-none-logged-in", "oidcc-max-age-1", "oidcc-max-age-10000",
    "oidcc-ensure-request-with-unknown-parameter-succeeds", "oidcc-id-token-hint", "oidcc-login-hint",
    "oidcc-ui-locales", "oidcc-claims-locales", "oidcc-ensure-request-with-acr-values-succeeds", "oidcc-codereuse",
    "oidcc-codereuse-30seconds", "oidcc-ensure-registered-redirect-uri", "oidcc-ensure-redirect-uri-in-authorization-request",
    "oidcc-ensure-request-with-valid-pkce-succeeds", "oidcc-ensure-post-request-succeeds", "oidcc-nonce-invalid",
    "oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported", "oidcc-claims-essential",
    "oidcc-ensure-request-object-with-redirect-uri", "oidcc-refresh-token", "oidcc-check-userinfo-alg",
    # Config OP
    "oidcc-discovery-endpoint-verification", "oidcc-discovery-issuer-not-matching-config",
    "oidcc-discovery-webfinger-acct", "oidcc-discovery-webfinger-url", "oidcc-server-rotate-keys",
    "oidcc-idtoken-unsigned", "oidcc-userinfo-rs256",
]  # fmt: skip

NOT_SUPPORTED = {
    "oidcc-ensure-request-object-with-redirect-uri": "Request objects are not supported "
    "(`request_parameter_supported` is false): the `request` parameter is ignored, never acted on.",
    "oidcc-scope-address": "Gatehouse holds no postal address: its upstreams (Google, Kakao, Facebook, OIDC) "
    "give name, email and picture; `address` is not in `scopes_supported`.",
    "oidcc-scope-phone": "Gatehouse holds no phone number; `phone` is not in `scopes_supported`.",
    "oidcc-check-userinfo-alg": "Not applicable: UserInfo answers plain JSON only; signed UserInfo "
    "(`userinfo_signing_alg_values_supported`) is not offered.",
    "oidcc-userinfo-rs256": "Signed UserInfo responses are not offered (plain JSON only).",
    "oidcc-idtoken-unsigned": "ID tokens are always signed with RS256; `alg: none` is never issued "
    "(`id_token_signing_alg_values_supported` is [\"RS256\"]).",
    "oidcc-discovery-webfinger-acct": "WebFinger issuer discovery is not served (Dynamic OP, not Config OP).",
    "oidcc-discovery-webfinger-url": "WebFinger issuer discovery is not served (Dynamic OP, not Config OP).",
}


def pytest_addoption(parser):
    parser.addoption("--compliance-report", default=None, help="write the compliance matrix (Markdown) here")


def pytest_collection_modifyitems(items):
    for item in items:
        for marker in reversed(list(item.iter_markers("spec"))):  # decorator order, top first
            item.user_properties.append(("spec", list(marker.args[:3])))


class _Matrix:
    def __init__(self):
        self.specs: dict[str, list] = {}  # test (without parameters) -> its spec markers
        self.outcomes: dict[str, set] = defaultdict(set)

    def pytest_runtest_logreport(self, report):
        specs = [value for name, value in report.user_properties if name == "spec"]
        if not specs:
            return
        test = report.nodeid.split("[")[0]
        self.specs[test] = specs
        if report.when == "call" or report.outcome != "passed":
            self.outcomes[test].add("skipped" if report.skipped else report.outcome)

    def result(self, test: str) -> str:
        outcomes = self.outcomes.get(test, set())
        if "failed" in outcomes:
            return "FAIL"
        if outcomes == {"passed"}:
            return "pass"
        return "skipped" if "skipped" in outcomes else "not run"

    def markdown(self) -> str:
        rows = defaultdict(list)  # specification -> (section, requirement, test, result)
        for test, specs in self.specs.items():
            for specification, section, requirement in specs:
                rows[specification].append((section, requirement, test, self.result(test)))
        results = [self.result(t) for t in self.specs]
        requirements = {(s, sec, req) for specs in self.specs.values() for s, sec, req in specs}
        proven = {row[0] for row in rows.get("OIDF", []) if row[3] == "pass"}
        out = [
            "# Compliance matrix",
            "",
            "Which specification requirement each test proves: generated by `make compliance` from a real run "
            "(tests tagged `@pytest.mark.spec(specification, section, requirement)`; the plugin is "
            "`tests/compliance_plugin.py`). Do not edit by hand.",
            "",
            f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: {len(self.specs)} tagged tests, "
            f"{results.count('pass')} passed, {results.count('FAIL')} failed, "
            f"{len(results) - results.count('pass') - results.count('FAIL')} skipped or not run; "
            f"{len(requirements)} requirements. OpenID conformance modules: {len(proven)} proven by a passing "
            f"test, {len(NOT_SUPPORTED)} not supported (below).",
            "",
            "| Specification | Requirements | Tests | Passing |",
            "|---|---|---|---|",
        ]
        order = [s for s in TITLES if s in rows] + sorted(set(rows) - set(TITLES))
        for specification in order:
            tests = {row[2] for row in rows[specification]}
            passing = {row[2] for row in rows[specification] if row[3] == "pass"}
            count = len({(r[0], r[1]) for r in rows[specification]})
            out.append(f"| {TITLES.get(specification, specification)} | {count} | {len(tests)} | {len(passing)} |")
        for specification in order:
            first = "Module" if specification == "OIDF" else "Section"
            out += ["", f"## {TITLES.get(specification, specification)}", "",
                    f"| {first} | Requirement | Test | Result |", "|---|---|---|---|"]  # fmt: skip
            for section, requirement, test, result in sorted(rows[specification], key=_section_key):
                out.append(f"| {section} | {requirement} | `{test}` | {result} |")
        out += ["", "## OpenID conformance modules not supported", "", "| Module | Reason |", "|---|---|"]
        out += [f"| {module} | {reason} |" for module, reason in NOT_SUPPORTED.items()]
        missing = [m for m in CONFORMANCE_MODULES if m not in proven and m not in NOT_SUPPORTED]
        out += ["", "## Basic and Config OP modules without a passing test or a reason", ""]
        out += [f"- {m}" for m in missing] or ["None: every module is proven or listed as not supported."]
        return "\n".join(out) + "\n"


def _section_key(row):
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\-]", row[0])], row[2]


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    if config.getoption("--compliance-report") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Matrix(), "compliance-matrix")


def pytest_sessionfinish(session):
    matrix = session.config.pluginmanager.get_plugin("compliance-matrix")
    if matrix is not None:
        path = Path(session.config.getoption("--compliance-report"))
        path.write_text(matrix.markdown(), encoding="utf-8")
