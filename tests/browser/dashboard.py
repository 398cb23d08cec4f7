"""The dashboard in a real browser: headless Chromium driven through chromium-driver by Selenium,
against a running blocklist-edge host. Run by tests/dashboard.rs, which starts the host:

    python dashboard.py BASE_URL ADMIN_TOKEN SCREENSHOT_DIR AXE_JS

Walks what a list owner does (sign in, create a list, preview, compile and watch the job reach
`done`, create a subscription, copy its URL and fetch it, look a name up), an error path (a
configuration the API refuses shows the API's own message), the admin's user page, keyboard
use and a phone-sized window; runs axe-core on every page (no serious or critical violation);
saves a screenshot of each main page. Exits non-zero, with the reason, on the first failure.
"""

import base64
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

BASE, ADMIN, SHOTS, AXE = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]).read_text()
SHOTS.mkdir(parents=True, exist_ok=True)


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"]:
        options.add_argument(arg)
    # Console errors (a script blocked by the Content-Security-Policy, an exception) fail the run.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service)


d = browser()
wait = WebDriverWait(d, 30)


def by_id(i):
    return wait.until(EC.visibility_of_element_located((By.ID, i)))


def heading(text):
    wait.until(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), text))


def button(text):
    return wait.until(EC.element_to_be_clickable((By.XPATH, f"//button[normalize-space()='{text}']")))


def alert_text():
    return wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "[role=alert]"))).text


def api(method, path, token, body=None):
    """The API's answer (status, JSON) to a request, made directly (not through the page)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method, headers={"Authorization": f"Bearer {token}"})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def fetch_status(url):
    try:
        with urllib.request.urlopen(url) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def accessible(page):
    """axe-core's serious and critical violations on the page: none allowed."""
    d.execute_script(AXE)
    violations = d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations), e => done([{id: 'axe failed', impact: 'critical', help: String(e), nodes: []}]));"
    )
    for v in violations:
        print(f"  axe on {page}: {v['impact']} {v['id']}: {v['help']} ({len(v['nodes'])} nodes)")
    bad = [v["id"] for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, f"{page}: serious accessibility violations: {bad}"


def shot(name):
    # The whole page, not only the window.
    png = d.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
    (SHOTS / f"{name}.png").write_bytes(base64.b64decode(png))


def console_errors():
    # Answers >= 400 the steps above asked for (a wrong token, an invalid list, versions of a
    # list not yet compiled) are logged as failed loads ("network"); anything else is not
    # expected: an exception, a resource the Content-Security-Policy refused.
    return [e for e in d.get_log("browser") if e["level"] == "SEVERE" and e.get("source") != "network"]


try:
    # Sign in as the admin; create a user; the token is shown once, with a copy button.
    d.get(BASE + "/")
    heading("Sign in")
    assert d.current_url.endswith("/ui/"), d.current_url
    accessible("sign in")
    shot("signin")
    # Keyboard: the token field has focus; Enter submits.
    active = d.switch_to.active_element
    assert active.get_attribute("id") == "token", "the token field has focus on the sign-in page"
    active.send_keys("ble_" + "0" * 64, Keys.ENTER)
    assert "invalid" in alert_text().lower() or "token" in alert_text().lower(), alert_text()
    by_id("token").clear()
    by_id("token").send_keys(ADMIN, Keys.ENTER)
    heading("Users")
    by_id("user-name").send_keys("alice")
    button("Create user").click()
    token_field = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#admin-output input")))
    alice = token_field.get_attribute("value")
    assert alice.startswith("ble_"), alice
    alice_id = d.find_element(By.CSS_SELECTOR, "#admin-output code").text
    assert alice_id.startswith("u_"), alice_id
    accessible("users")
    shot("users")
    # A second token for her, which works.
    by_id("user-id").send_keys(alice_id)
    button("Issue a token").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "admin-output"), "Issued a new token"))
    second = d.find_element(By.CSS_SELECTOR, "#admin-output input").get_attribute("value")
    assert second != alice and api("GET", "/v1/me", second) == (200, api("GET", "/v1/me", alice)[1])
    # A user created and deleted (after a confirmation): their token no longer works.
    by_id("user-name").clear()
    by_id("user-name").send_keys("bob")
    button("Create user").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "admin-output"), "Created bob"))
    bob = d.find_element(By.CSS_SELECTOR, "#admin-output input").get_attribute("value")
    bob_id = d.find_element(By.CSS_SELECTOR, "#admin-output code").text
    assert api("GET", "/v1/me", bob)[0] == 200
    by_id("user-id").clear()
    by_id("user-id").send_keys(bob_id)
    button("Delete user").click()
    d.switch_to.alert.accept()
    wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "main [role=status]"), "Deleted."))
    assert api("GET", "/v1/me", bob)[0] == 401
    button("Sign out").click()

    # Alice signs in and creates a list of rules.
    by_id("token").send_keys(alice, Keys.ENTER)
    heading("Lists")
    assert "No lists yet" in d.find_element(By.TAG_NAME, "main").text
    # The token is in this tab's session storage only: not in local storage, not in the URL.
    assert d.execute_script("return Object.values(sessionStorage)") == [alice]
    assert d.execute_script("return localStorage.length") == 0 and alice not in d.current_url
    by_id("new-list-name").send_keys("ads")
    by_id("new-list-text").send_keys("||ads.example^\n||tracker.example^\n@@||ok.ads.example^\n")
    button("Create list").click()
    heading("ads")

    # Compile, and watch the job reach done.
    button("Compile now").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "job-status"), "done"))
    # The page is drawn anew with the version the job published.
    list_url = d.current_url
    list_id = list_url.rsplit("/", 1)[1]
    status, versions = api("GET", f"/v1/lists/{list_id}/versions", alice)
    assert status == 200 and len(versions["versions"]) == 1, versions
    wait.until(EC.text_to_be_present_in_element((By.TAG_NAME, "main"), f"{versions['current']} (current)"))
    assert "null" not in d.find_element(By.TAG_NAME, "main").text

    # A subscription in the hosts format: copy its URL and fetch it as a resolver would.
    Select(by_id("sub-format")).select_by_value("hosts")
    button("Create a subscription URL").click()
    url_field = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#subscription-created input")))
    url = url_field.get_attribute("value")
    assert "/s/bls_" in url, url
    d.execute_cdp_cmd("Browser.grantPermissions", {"origin": BASE, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    button("Copy subscription url").click()
    wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#subscription-created [role=status]"), "Copied"))
    copied = d.execute_async_script("const done = arguments[0]; navigator.clipboard.readText().then(done, e => done('clipboard: ' + e));")
    assert copied == url, f"the clipboard holds {copied!r}, not the URL"
    with urllib.request.urlopen(copied) as r:
        body = r.read().decode()
    assert "0.0.0.0 ads.example" in body and "0.0.0.0 tracker.example" in body, body
    wait.until(EC.text_to_be_present_in_element((By.ID, "subscriptions"), "my resolver"))

    # Rotate: a new URL, the old one stops working.
    button("Rotate").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "subscription-created"), "New URL"))
    rotated = d.find_element(By.CSS_SELECTOR, "#subscription-created input").get_attribute("value")
    assert rotated != url and "/s/bls_" in rotated, rotated
    assert fetch_status(url) == 404 and fetch_status(rotated) == 200
    accessible("list")
    shot("list")

    # Look a name up: blocked by its parent's rule; the exception unblocks another.
    by_id("lookup-name").send_keys("cdn.ads.example")
    button("Look up").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "lookup-result"), "Blocked by ||ads.example^"))
    by_id("lookup-name").clear()
    by_id("lookup-name").send_keys("ok.ads.example")
    button("Look up").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "lookup-result"), "Allowed by @@||ok.ads.example^"))
    shot("lookup")

    # Revoke (after a confirmation): the subscription is gone and its URL no longer works.
    button("Revoke").click()
    d.switch_to.alert.accept()
    wait.until(EC.text_to_be_present_in_element((By.ID, "subscriptions"), "No subscriptions yet"))
    assert fetch_status(rotated) == 404

    # Explain a name: the compile's trace names the rule that blocks it.
    by_id("lookup-name").clear()
    by_id("lookup-name").send_keys("cdn.ads.example")
    button("Explain").click()
    wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#lookup-result pre"), "||ads.example^"))

    # Edit the rules, compile again, and see the difference between the two versions.
    text = by_id("list-text")
    text.send_keys(Keys.CONTROL, Keys.END)
    text.send_keys("||more.example^\n")
    button("Save").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "list-message"), "Saved: revision 2"))
    button("Compile now").click()
    wait.until(lambda _: len(api("GET", f"/v1/lists/{list_id}/versions", alice)[1]["versions"]) == 2)
    button("Show the difference").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "diff"), "0 removed, 1 added."))
    assert "+||more.example^" in d.find_element(By.ID, "diff").text

    # Preview a compile.
    d.find_element(By.LINK_TEXT, "Preview").click()
    heading("Preview a compile")
    button("Preview the compile").click()
    out = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#preview-output pre"))).text
    assert "||ads.example^" in out and "tracker.example" in out, out
    assert "rules in the result" in d.find_element(By.ID, "preview-output").text
    accessible("preview")
    shot("preview")

    # An error path: a configuration the API refuses shows the API's own message.
    bad = {"name": "bad", "sources": [{"source": "https://example.org/list.txt", "type": "nonsense"}]}
    status, answer = api("POST", "/v1/lists", alice, {"name": "bad", "config": bad})
    assert status == 400, (status, answer)
    d.find_element(By.LINK_TEXT, "Lists").click()
    heading("Lists")
    Select(by_id("new-list-kind")).select_by_value("config")
    by_id("new-list-name").send_keys("bad")
    text = by_id("new-list-text")
    text.clear()
    text.send_keys(json.dumps(bad))
    button("Create list").click()
    shown = alert_text()
    assert answer["error"]["message"] in shown, f"the page shows {shown!r}, the API said {answer['error']['message']!r}"
    # Not JSON at all: said before anything is sent.
    text.clear()
    text.send_keys("{not json")
    button("Create list").click()
    wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[role=alert]"), "not valid JSON"))
    accessible("lists")
    shot("lists")

    # A compile that fails: the sample configuration's source is on a host this server may not
    # fetch from. The page follows the job through its retries to `dead`, with the error.
    text.clear()
    name = by_id("new-list-name")
    name.clear()
    name.send_keys("remote")
    Select(by_id("new-list-kind")).select_by_value("rules")
    Select(by_id("new-list-kind")).select_by_value("config")
    assert "example.org" in by_id("new-list-text").get_attribute("value"), "the sample configuration"
    button("Create list").click()
    heading("remote")
    button("Compile now").click()
    WebDriverWait(d, 60).until(EC.text_to_be_present_in_element((By.ID, "job-status"), "dead"))
    job = d.find_element(By.ID, "job").text
    assert "attempt 3 of 3" in job and "example.org" in job, job

    # Delete that list (after a confirmation): back to the lists, where it is gone.
    button("Delete this list").click()
    d.switch_to.alert.accept()
    heading("Lists")
    rows = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "main table"))).text
    assert "ads" in rows and "remote" not in rows, rows

    # On a phone: nothing wider than the screen.
    d.set_window_size(390, 844)
    d.get(list_url)
    heading("ads")
    overflow = d.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the list page is {overflow}px wider than a phone's screen"
    shot("list-phone")

    errors = console_errors()
    assert not errors, f"errors in the browser's console: {errors}"
    print(f"dashboard: every step passed; screenshots in {SHOTS}")
finally:
    d.quit()
