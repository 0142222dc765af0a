"""Scrapy settings for banwatch's StatusSpider (also what `scrapy crawl status` uses via scrapy.cfg)."""

from monitor import __version__

BOT_NAME = "banwatch"
SPIDER_MODULES = ["spiders.status"]
USER_AGENT = f"banwatch/{__version__} (account status monitor)"

# A monitor asks one public profile endpoint per account at a low rate; robots.txt of most platforms
# disallows every non-search-engine bot, which would turn every check into an unknown.
ROBOTSTXT_OBEY = False

# Every status code must reach the classifier: a 404 or 400 is often the answer itself.
HTTPERROR_ALLOW_ALL = True

# Rate limits are not retried on the spot (that makes them worse): 429 is classified as unknown and the
# account is checked again on its next interval. Connection faults and 5xx get one quick retry.
RETRY_ENABLED = True
RETRY_TIMES = 1
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408]

CONCURRENT_REQUESTS = 64  # the global cap; each platform's download slot sets its own politeness
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 0.5
DOWNLOAD_TIMEOUT = 20
AUTOTHROTTLE_ENABLED = False
# Off: every probe is stateless and carries its own Cookie header (a platform's session credential, YouTube's
# consent). Scrapy's cookie middleware would replace that header with cookies stored from earlier answers,
# so no session cookie would ever reach the platform, and one account's answer could set another's cookies.
COOKIES_ENABLED = False
# Redirects: Scrapy's RedirectMiddleware (600) drops only Authorization and Cookie when a redirect leaves the
# host. The guard sees every redirected request after CookiesMiddleware (700) set its headers, before it is
# sent: a redirect to another origin loses every credential header and every header holding a secret's
# value, and a redirect to a private, loopback or link-local address or a local name is refused
# (`<platform>.redirect_refused`) unless the chain started at such a host (an overridden base URL).
DOWNLOADER_MIDDLEWARES = {"spiders.middlewares.RedirectGuardMiddleware": 720}
# Every request carries its platform's own limit (Platform.max_answer, as download_maxsize/download_warnsize
# request meta), which bounds the body on the wire and after decompression. These are only the backstop for
# a request without one: Scrapy's 1 GiB default let one 1.5 KB brotli answer take the process to 2 GiB.
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
CLOSESPIDER_TIMEOUT = 900

TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
LOG_LEVEL = "WARNING"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
FEED_EXPORT_ENCODING = "utf-8"
