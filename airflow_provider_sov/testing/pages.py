"""
Stand-ins for the web pages the task links open: an SOV on Ping Maps or Ping Vision, and the
Broker website's submission page. The real pages are the vendors'; these only say which page and
which ID were opened, so a browser test can follow a task's link to the job it names.
"""

from __future__ import annotations

import html

from aiohttp import web

#: Where the emulator's Broker website is (a connection's extra ``website_url``).
BROKER_WEBSITE = "/broker-website"
_PRODUCTS = {"pingmaps": "Ping Maps", "pingvision": "Ping Vision"}
#: Web pages, open to a browser without the API's credentials (as the vendors' sign-in is not ours).
PAGE_ROUTES = ("sov_page", "broker_website")


def add_page_routes(app: web.Application) -> None:
    app.router.add_route("GET", "/{product:pingmaps|pingvision}/{sov_id}", sov_page, name="sov_page")
    app.router.add_route("GET", BROKER_WEBSITE + "/", broker_website, name="broker_website")


async def sov_page(request: web.Request) -> web.Response:
    product = _PRODUCTS[request.match_info["product"]]
    sov_id = html.escape(request.match_info["sov_id"])
    return _page(f"{product}: SOV {sov_id}", f'<h1 id="page">{product}</h1><p id="sov">SOV {sov_id}</p>')


async def broker_website(request: web.Request) -> web.Response:
    # The Broker's pages are addressed by the fragment (``#/submission/<id>``), which only the
    # browser sees: the page shows it.
    script = (
        "const m = location.hash.match(/^#\\/submission\\/(\\d+)$/);"
        "document.getElementById('submission').textContent = m ? 'Submission ' + m[1] : 'No submission';"
    )
    body = f'<h1 id="page">DATA Act Broker</h1><p id="submission"></p><script>{script}</script>'
    return _page("DATA Act Broker", body)


def _page(title: str, body: str) -> web.Response:
    text = f"<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>"
    return web.Response(text=text, content_type="text/html")
