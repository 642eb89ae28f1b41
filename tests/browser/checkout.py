"""Real-browser end-to-end test of the seed-004 checkout (payment sessions).

Against a running Tally (test payment provider), with headless Chromium:
1. POST /v1/payment-sessions (15.00 USD for user_123141 / product_123141)
   answers 201, status "pending" and a checkoutUrl.
2. The checkout page shows the title "Deposit to App" and "15.00 USD";
   choosing the succeeding test card and clicking Pay lands the browser on
   the return URL (served here) with ?sessionId=<id>.
3. The session is then "completed" and GET /v1/balances shows 15.00.
4. A second session paid first with the declined test card comes back to
   the checkout page with the decline shown, the session still "pending"
   and the balance still 15.00; paying it then with the good card
   completes it (balance 30.00).

Usage: checkout.py BASE_URL API_KEY [--chromium PATH] [--screenshot PNG]
Exits nonzero with a "FAIL: ..." line on the first failed check.
"""

import argparse
import http.server
import json
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

from playwright.sync_api import sync_playwright

CUSTOMER, PRODUCT, TITLE = "user_123141", "product_123141", "Deposit to App"
AMOUNT, COIN = "15.00", "USD"


def check(condition, message):
    if not condition:
        sys.exit(f"FAIL: {message}")


class ReturnPage(http.server.BaseHTTPRequestHandler):
    """The shop's return page: records every sessionId it is sent."""

    received = []

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path != "/return":
            return self.send_error(404)
        self.received.extend(urllib.parse.parse_qs(url.query).get("sessionId", []))
        # The empty icon link keeps Chromium from asking for /favicon.ico.
        body = b'<!doctype html><link rel="icon" href="data:,"><title>Shop</title><h1>Thanks</h1>'
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def api(base, key, method, path, body=None):
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def balance(base, key):
    query = urllib.parse.urlencode({"customer": CUSTOMER, "product": PRODUCT, "coin": COIN})
    status, body = api(base, key, "GET", f"/v1/balances?{query}")
    check(status == 200, f"GET /v1/balances answered {status}: {body}")
    rows = [r for r in body["data"] if (r["customer"], r["product"], r["coin"]) == (CUSTOMER, PRODUCT, COIN)]
    return rows[0]["balance"] if rows else None


def open_checkout(page, base, key):
    """Creates a session and opens its checkout page; returns its id."""
    status, session = api(base, key, "POST", "/v1/payment-sessions", {
        "customer": CUSTOMER, "product": PRODUCT, "title": TITLE,
        "amounts": {COIN: AMOUNT}, "return_url": RETURN_URL})
    check(status == 201, f"POST /v1/payment-sessions answered {status}: {session}")
    check(session["status"] == "pending", f"new session is {session['status']!r}, not 'pending'")
    page.goto(session["checkoutUrl"])
    heading = page.locator("h1").inner_text()
    check(heading == TITLE, f"checkout heading is {heading!r}, expected {TITLE!r}")
    shown = page.locator("#amount").inner_text()
    check(shown == f"{AMOUNT} {COIN}", f"checkout amount is {shown!r}, expected '{AMOUNT} {COIN}'")
    return session["id"]


def pay(page, sid, card, screenshot=None):
    """Chooses `card` on the open checkout page and clicks Pay."""
    page.check(f"input[name=card][value={card}]")
    if screenshot:
        page.screenshot(path=screenshot, full_page=True)
    ReturnPage.received.clear()
    page.click("#pay")
    page.wait_for_load_state()


def landed(page, sid):
    """The browser is on the return URL with this session's id."""
    return_url = RETURN_URL
    try:
        page.wait_for_url(lambda url: url.startswith(return_url) and f"sessionId={sid}" in url, timeout=10_000)
    except Exception:
        check(False, f"after Pay the browser is at {page.url}, not {return_url}?sessionId={sid}")
    check(ReturnPage.received == [sid], f"return page got sessionId {ReturnPage.received}, expected [{sid!r}]")


def session_status(base, key, sid):
    status, session = api(base, key, "GET", f"/v1/payment-sessions/{sid}")
    check(status == 200, f"GET /v1/payment-sessions/{sid} answered {status}: {session}")
    return session["status"]


# The shop's return page (served by this script), set in main().
RETURN_URL = ""


def main():
    global RETURN_URL
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("key")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium executable")
    parser.add_argument("--screenshot", help="save the checkout page here (PNG)")
    args = parser.parse_args()
    base, key = args.base.rstrip("/"), args.key

    shop = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ReturnPage)
    threading.Thread(target=shop.serve_forever, daemon=True).start()
    RETURN_URL = f"http://127.0.0.1:{shop.server_address[1]}/return"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=args.chromium, headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 720, "height": 340})

        sid = open_checkout(page, base, key)
        pay(page, sid, "visa", args.screenshot)
        landed(page, sid)
        got = session_status(base, key, sid)
        check(got == "completed", f"paid session is {got!r}, expected 'completed'")
        got = balance(base, key)
        check(got == AMOUNT, f"balance after paying is {got!r}, expected {AMOUNT!r}")
        print(f"ok: {sid} paid with the test card, completed, balance {got} {COIN}")

        sid = open_checkout(page, base, key)
        pay(page, sid, "declined")
        error = page.locator("#error")
        check(error.count() == 1 and "declined" in error.inner_text(),
              f"after a declined card the page at {page.url} shows no decline")
        check(ReturnPage.received == [], f"a declined card went back to the shop: {ReturnPage.received}")
        got = session_status(base, key, sid)
        check(got == "pending", f"after a decline the session is {got!r}, expected 'pending'")
        got = balance(base, key)
        check(got == AMOUNT, f"balance after a declined card is {got!r}, expected {AMOUNT!r} (unchanged)")
        pay(page, sid, "visa")
        landed(page, sid)
        got = session_status(base, key, sid)
        check(got == "completed", f"session paid after a decline is {got!r}, expected 'completed'")
        got = balance(base, key)
        check(got == "30.00", f"balance after the second payment is {got!r}, expected '30.00'")
        print(f"ok: {sid} declined (shown, still pending), then paid; balance {got} {COIN}")
        browser.close()
    shop.shutdown()


if __name__ == "__main__":
    main()
