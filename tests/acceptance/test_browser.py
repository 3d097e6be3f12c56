"""The pages in a real browser: Debian's chromium driven by Playwright, against waitress and real workers.

Each test proves what its name says through the page itself (clicks, typing, files chosen), checks every
page it visits with axe-core (WCAG 2 A/AA: labels, contrast, names), and saves screenshots under
artifacts/screenshots/ for people to look at.
"""

from __future__ import annotations

import json
import re
import sys

import pytest
import requests
from playwright.sync_api import Page, expect, sync_playwright
from sqlalchemy import text

from tests.acceptance.browser.checks import (
    DESKTOP,
    HERE,
    PHONE,
    accessibility_problems,
    chromium_path,
    no_sideways_scroll,
    screenshot,
)
from tests.acceptance.conftest import stop, web_server

# A diamond after a pause: pause → (chart ‖ count) → report, with parameters of every kind on `chart`;
# a job that fails; and one that runs until cancelled.
CONFIG = """
version: 1
backends: [{{name: local, type: local}}]
tasks:
  - name: pause
    backend: local
    executable: "sleep $P1"
    in_globs: [".txt"]
    parameters: [{{name: seconds, switchless: true, type: float, default: 0, min: 0, max: 60,
                   description: How long to wait first}}]
  - name: chart
    backend: local
    executable: "{python} {script} $I1 $O1 $O2 $O3 $P"
    in_globs: [".txt"]
    out_globs: [".csv", ".png", ".json"]
    parameters:
      - {{name: rows, flag: "--rows", type: int, default: 10, min: 1, max: 100, description: Lines to keep}}
      - {{name: style, flag: "--style", type: choice, choices: [plain, fancy], default: plain,
          description: Colour of the bars}}
      - {{name: title, flag: "--title", type: string, default: Words, pattern: "[A-Za-z0-9 ]{{1,40}}",
          description: The chart's title}}
      - {{name: upper, flag: "--upper", type: bool, default: false, description: Capitalise the lines}}
  - {{name: count, backend: local, executable: "wc -l $I1", in_globs: [".txt"], out_globs: [".count"],
      stdout_glob: ".count"}}
  - {{name: report, backend: local, executable: "cat $I1 $I2", in_globs: [".json", ".count"],
      out_globs: [".report"], stdout_glob: ".report"}}
  - {{name: failing, backend: local, executable: "ls /no/such/file", in_globs: [".txt"]}}
  - {{name: sleeping, backend: local, executable: "sleep 300", in_globs: [".txt"]}}
jobs:
  - name: word_chart
    description: Chart the words of each line of a text, after a pause
    validators: [text]
    steps:
      - {{task: pause}}
      - {{task: chart, after: [pause]}}
      - {{task: count, after: [pause]}}
      - {{task: report, after: [chart, count]}}
  - {{name: broken, description: A job that always fails, validators: [text], steps: [{{task: failing}}]}}
  - {{name: sleepy, description: A job that runs until it is cancelled, validators: [text],
      steps: [{{task: sleeping}}, {{task: count}}]}}
"""
TEXT = "the quick brown fox\njumps over\nthe lazy dog\n"
GREEN = "rgb(21, 128, 61)"


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def browse(chromium, service):
    """browse(**context options) -> a page of a fresh browser context (cookies of its own)."""
    contexts = []

    def open_page(**options) -> Page:
        context = chromium.new_context(base_url=service, accept_downloads=True, **(options or DESKTOP))
        context.set_default_timeout(30_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def configured(api):
    api.put_config(CONFIG.format(python=sys.executable, script=HERE / "step.py"))
    return api


@pytest.fixture
def mailing(service, database_url, monkeypatch):
    """A second web server on the same database, with email notifications configured (AA_SMTP_URL; no
    worker runs, so nothing is sent). It starts after `service`, which is left without them."""
    monkeypatch.setenv("AA_SMTP_URL", "smtp://127.0.0.1:9")
    with web_server(database_url) as (base, _):
        yield base


def log_in(page: Page, token: str) -> None:
    """Give the browser a token on the page that asks for one."""
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Use this token").click()


def accessible(page: Page, name: str) -> None:
    """Screenshot the page, then hold it to the accessibility checks."""
    screenshot(page, name)
    problems = accessibility_problems(page)
    assert not problems, f"{name}: " + "\n".join(problems)


def test_submit_through_the_form_watch_the_dag_and_download(configured, workers, browse, tmp_path):
    page = browse()
    page.goto("/")
    expect(page.get_by_role("link", name="word_chart")).to_be_visible()
    accessible(page, "01-jobs")
    page.get_by_label("Search jobs").fill("cancelled")  # filters as one types
    expect(page.get_by_role("link", name="word_chart")).to_be_hidden()
    expect(page.get_by_role("link", name="sleepy")).to_be_visible()
    page.get_by_label("Search jobs").fill("")
    page.get_by_role("link", name="word_chart").click()

    # The form follows the declarations: a file with its suffix, a number with its range, a choice, a
    # checkbox, a pattern, the defaults filled in and the descriptions as help.
    expect(page.get_by_label("Input data (required)")).to_have_attribute("accept", ".txt")
    rows = page.get_by_label("Rows (chart)")
    expect(rows).to_have_value("10")
    expect(rows).to_have_attribute("max", "100")
    expect(page.get_by_label("Style (chart)")).to_have_value("plain")
    expect(page.get_by_label("Title (chart)")).to_have_attribute("pattern", "[A-Za-z0-9 ]{1,40}")
    expect(page.get_by_label("Upper (chart)")).not_to_be_checked()
    expect(page.get_by_text("Capitalise the lines")).to_be_visible()
    accessible(page, "02-form")

    # The server's own checks, shown next to their fields (the browser's are turned off to get there).
    page.get_by_label("Input data (required)").set_input_files(
        {"name": "fox.txt", "mimeType": "text/plain", "buffer": TEXT.encode()})
    page.get_by_label("Seconds (pause)").fill("2")
    rows.fill("0")
    page.eval_on_selector("form.job-form", "form => form.noValidate = true")
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("#e-chart_rows")).to_have_text("must be at least 1")
    expect(page.get_by_label("Rows (chart)")).to_have_attribute("aria-invalid", "true")
    accessible(page, "03-form-errors")

    page.get_by_label("Input data (required)").set_input_files(
        {"name": "fox.txt", "mimeType": "text/plain", "buffer": TEXT.encode()})
    page.get_by_label("Rows (chart)").fill("2")
    page.get_by_label("Style (chart)").select_option("fancy")
    page.get_by_label("Upper (chart)").check()
    page.get_by_role("button", name="Submit").click()
    expect(page).to_have_url(re.compile(r"/submissions/[0-9a-f-]{36}$"))
    submission_id = page.url.rsplit("/", 1)[1]

    # No worker yet: queued. Then a worker starts, and the page follows without being reloaded.
    expect(page.locator("#dag .node[data-step=pause]")).to_have_class(re.compile("state-Queued"))
    accessible(page, "04-submission-queued")
    page.evaluate("window.notReloaded = true")
    workers(1)
    expect(page.locator("#dag .node[data-step=pause]")).to_have_class(re.compile("state-Running"))
    assert page.evaluate("window.notReloaded === true"), "the page was reloaded to show the step running"
    expect(page.locator("#steps tr[data-step=pause] .badge")).to_have_text("Running")
    screenshot(page, "05-submission-running")

    # Every node turns green; the finished page shows the results.
    expect(page.locator("#state")).to_have_text("Complete", timeout=90_000)
    expect(page.locator("#dag .node.state-Complete")).to_have_count(4)
    assert page.locator("#dag .node[data-step=report] rect").evaluate("r => getComputedStyle(r).fill") == GREEN
    expect(page.locator("table.preview tr")).to_have_count(3)  # header and the two lines kept
    expect(page.locator("table.preview")).to_contain_text("THE QUICK BROWN FOX")
    image = page.locator(".result img")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth > 0"), "the chart did not load"
    # Results are named after the step that made them: <submission>.<step><suffix>.
    summary = page.locator("section.result", has=page.get_by_role("heading", name=f"{submission_id}.chart.json"))
    expect(summary.locator("pre")).to_contain_text('{\n  "title": "Words",\n  "style": "fancy"')  # indented
    zip_link = page.get_by_role("link", name="Download all results (zip)")
    expect(zip_link).to_have_attribute("href", f"/api/submissions/{submission_id}/results.zip")
    accessible(page, "06-submission-complete")

    with page.expect_download() as download:
        page.get_by_role("link", name=f"Download {submission_id}.chart.csv").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == f"{submission_id}.chart.csv"
    assert saved.read_text().splitlines() == ["line,words,text", "1,4,THE QUICK BROWN FOX", "2,2,JUMPS OVER"]

    page.get_by_role("link", name="log of count").click()
    expect(page.locator("pre.log").first).to_contain_text("3")
    accessible(page, "07-log")
    page.get_by_role("link", name="My submissions").click()
    expect(page.get_by_role("row")).to_have_count(2)
    accessible(page, "08-my-submissions")


def test_cancel_a_running_submission_and_watch_the_ops_page(configured, workers, browse, admin_token):
    workers(1)
    page = browse()
    page.goto("/ops")
    expect(page.get_by_text("it needs an admin token")).to_be_visible()
    page.get_by_label("Token").fill(admin_token)
    page.get_by_role("button", name="Use this token").click()
    expect(page).to_have_url(re.compile("/ops$"))

    page.goto("/jobs/broken")
    page.get_by_label("Input data (required)").set_input_files(
        {"name": "x.txt", "mimeType": "text/plain", "buffer": b"x\n"})
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("#state")).to_have_text("Error", timeout=60_000)

    page.goto("/jobs/sleepy")
    page.get_by_label("Input data (required)").set_input_files(
        {"name": "x.txt", "mimeType": "text/plain", "buffer": b"x\n"})
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("#dag .node[data-step=sleeping]")).to_have_class(re.compile("state-Running"), timeout=60_000)
    submission_page = page.url

    # The operator sees the queue, the worker running the step, the failure and the last hour's work.
    page.goto("/ops")
    expect(page.locator("#queues")).to_contain_text("local")
    expect(page.locator("#workers").get_by_role("link", name="sleeping")).to_be_visible()
    expect(page.locator("#failures")).to_contain_text("broken")
    expect(page.locator("#failures")).to_contain_text("exit status")
    expect(page.get_by_text(re.compile(r"\d+ steps? completed and 1 submission finished"))).to_be_visible()
    accessible(page, "09-ops")

    page.goto(submission_page)
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#state")).to_have_text("Cancelled")
    expect(page.locator("#dag .node.state-Cancelled")).to_have_count(2)
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    accessible(page, "10-cancelled")
    body = requests.get(submission_page.replace("/submissions/", "/api/submissions/"), timeout=30).json()
    assert body["state"] == "Cancelled" and [s["state"] for s in body["steps"]] == ["Cancelled", "Cancelled"]


def test_on_a_phone_and_with_a_keyboard(configured, workers, browse):
    workers(1)
    done = configured.submit("word_chart", files={"input_data": ("fox.txt", TEXT)}, data={"chart_rows": "3"},
                             wait=60)
    assert configured.wait_done(done["id"])["state"] == "Complete"
    page = browse(**PHONE)
    for path, name in (("/", "11-phone-jobs"), ("/jobs/word_chart", "12-phone-form"),
                       (f"/submissions/{done['id']}", "13-phone-submission")):
        page.goto(path)
        assert no_sideways_scroll(page), f"{path} scrolls sideways on a phone"
        accessible(page, name)

    # With the keyboard alone: the skip link first, then the form filled and sent.
    page = browse()
    page.goto("/jobs/word_chart")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    page.get_by_label("Input data (required)").set_input_files(
        {"name": "fox.txt", "mimeType": "text/plain", "buffer": TEXT.encode()})
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Submit":
            break
    else:
        pytest.fail("the Submit button cannot be reached with Tab")
    focus = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focus == "solid", "the focused button shows no outline"
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/submissions/[0-9a-f-]{36}$"))


def test_swagger_try_it_out_works_as_shipped_for_every_operation(configured, workers, browse, admin_token):
    """The API's documentation page as a colleague without curl uses it: every /api operation tried out,
    each optional field left as Swagger UI leaves it, path parameters filled in from a real submission."""
    worker = workers(1)[0]
    done = configured.submit("word_chart", files={"input_data": ("fox.txt", TEXT)}, wait=60)
    done = configured.wait_done(done["id"])
    stop(worker)  # so that the submission made through Swagger is still running when Swagger cancels it
    config = configured.get("/api/config", headers=configured.admin).text
    configured.put_config(config)  # version 2, so that a version's diff has one before it to go against
    values = {"submission_id": done["id"], "result_id": str(done["results"][0]["id"]), "step": "count",
              "name": "word_chart", "number": "2"}

    page = browse()
    page.goto("/api/docs")
    page.get_by_role("button", name="Authorize").first.click()
    page.get_by_label("auth-bearer-value").fill(admin_token)
    page.locator(".auth-btn-wrapper").get_by_role("button", name="Authorize").click()
    page.locator(".auth-btn-wrapper").get_by_role("button", name="Close").click()

    tried = {}
    for operation in page.locator(".opblock").all():
        path = operation.locator(".opblock-summary-path").get_attribute("data-path")
        method = operation.locator(".opblock-summary-method").inner_text().strip()
        if not path.startswith("/api/"):
            continue
        operation.locator(".opblock-summary").click()
        operation.get_by_role("button", name="Try it out").click()
        for name in re.findall(r"{(\w+)}", path):
            assert name in values, f"{method} {path}: this test needs a value for {name}"
            operation.locator(f"tr[data-param-name={name}] input").fill(values[name])
        if method == "POST" and path == "/api/submissions":
            operation.locator("tr[data-property-name=job] input").fill("word_chart")
            operation.locator("tr[data-property-name=input_data] input[type=file]").set_input_files(
                {"name": "fox.txt", "mimeType": "text/plain", "buffer": TEXT.encode()})
        if method == "PUT" and path == "/api/config":
            operation.locator("textarea.body-param__text").fill(config)
        if method == "DELETE":  # cancel the one submitted through Swagger, not the finished one
            operation.locator("tr[data-param-name=submission_id] input").fill(values["submitted"])
        operation.get_by_role("button", name="Execute").click()
        status = operation.locator(".live-responses-table tbody .response-col_status").first
        expect(status).to_have_text(re.compile(r"^\d{3}$"))
        tried[f"{method} {path}"] = code = int(status.inner_text())
        if method == "POST" and path == "/api/submissions":
            screenshot(operation, "14-swagger-try-it-out")
            body = operation.locator(".live-responses-table tbody .response-col_description pre.microlight").first.inner_text()
            values["submitted"] = json.loads(body)["id"]
        assert 200 <= code < 300, f"{method} {path} answered {code} in Swagger's Try it out"
        operation.locator(".opblock-summary").click()  # fold it again
    assert {"POST /api/submissions", "DELETE /api/submissions/{submission_id}", "PUT /api/config",
            "GET /api/config/versions/{number}", "GET /api/config/versions/{number}/diff"} <= set(tried)


def test_the_email_field_only_where_mail_is_configured_and_its_error_beside_it(configured, mailing, browse, sessions):
    page = browse()
    page.goto("/jobs/word_chart")
    expect(page.get_by_label("Rows (chart)")).to_be_visible()
    expect(page.get_by_label("Email me when it ends")).to_have_count(0)  # no AA_SMTP_URL on this server

    page.goto(f"{mailing}/jobs/word_chart")
    email = page.get_by_label("Email me when it ends")
    expect(email).to_have_attribute("type", "email")
    expect(email).to_have_value("")
    expect(page.get_by_text("the address is not shown again")).to_be_visible()
    accessible(page, "15-form-email")

    # An address the browser takes but the service refuses (no dot in its domain): the form comes back
    # with a 400, the message beside the field, what was typed kept, and nothing stored.
    page.get_by_label("Input data (required)").set_input_files(
        {"name": "fox.txt", "mimeType": "text/plain", "buffer": TEXT.encode()})
    email.fill("someone@localhost")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Submit").click()
    assert posted.value.status == 400
    expect(page.locator("#e-email")).to_have_text("must be an email address")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_value("someone@localhost")
    expect(page.locator("#problems").get_by_role("link", name="Email me when it ends")).to_be_visible()
    accessible(page, "16-form-email-error")
    with sessions() as session:
        assert session.execute(text("SELECT count(*) FROM submissions")).scalar_one() == 0

    page.get_by_label("Input data (required)").set_input_files(
        {"name": "fox.txt", "mimeType": "text/plain", "buffer": TEXT.encode()})
    email.fill("someone@example.org")
    page.get_by_role("button", name="Submit").click()
    expect(page).to_have_url(re.compile(r"/submissions/[0-9a-f-]{36}$"))
    with sessions() as session:
        kept = session.execute(text("SELECT submission_id::text, email FROM submission_contacts")).all()
    assert [tuple(row) for row in kept] == [(page.url.rsplit("/", 1)[1], "someone@example.org")]


def test_the_ops_page_lists_the_configuration_versions_and_shows_a_diff(configured, browse, admin_token):
    configured.put_config(CONFIG.format(python=sys.executable, script=HERE / "step.py").replace(
        "A job that always fails", "A job that always fails (on purpose)"))
    page = browse()
    page.goto("/ops/config/2")
    expect(page.get_by_text("it needs an admin token")).to_be_visible()  # admin only, as /ops
    log_in(page, admin_token)
    expect(page).to_have_url(re.compile("/ops/config/2$"))

    page.goto("/ops")
    versions = page.locator("#versions tbody tr")
    expect(versions).to_have_count(2)
    expect(versions.first).to_contain_text("~ job broken")
    expect(versions.first).to_contain_text("token:1 test")  # the admin token that loaded it
    expect(versions.nth(1)).to_contain_text("+ job word_chart")
    accessible(page, "17-ops-config-versions")

    page.get_by_role("link", name="Version 2", exact=True).click()
    expect(page).to_have_url(re.compile("/ops/config/2$"))
    expect(page.get_by_role("heading", name="Configuration version 2")).to_be_visible()
    expect(page.get_by_role("heading", name="The YAML against version 1")).to_be_visible()
    expect(page.locator("#changes")).to_have_text("~ job broken")
    added = page.locator("#diff .add", has_text="on purpose")
    expect(added).to_have_text("+  description: A job that always fails (on purpose)")
    expect(page.locator("#diff .del", has_text="always fails")).to_have_text("-  description: A job that always fails")
    assert added.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(220, 252, 231)"
    accessible(page, "18-config-version-diff")

    page.get_by_role("link", name="← Version 1").click()
    expect(page.get_by_role("heading", name="The first version: all of it")).to_be_visible()
    expect(page.locator("#diff .del")).to_have_count(0)
    expect(page.get_by_role("link", name="Version 2 →")).to_be_visible()

    phone = browse(**PHONE)
    phone.goto("/ops/config/2")
    log_in(phone, admin_token)
    expect(phone.get_by_role("heading", name="Configuration version 2")).to_be_visible()
    assert no_sideways_scroll(phone), "the diff page scrolls sideways on a phone"
    accessible(phone, "19-phone-config-version")
