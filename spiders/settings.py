"""Scrapy settings for banwatch's StatusSpider (also what `scrapy crawl status` uses via scrapy.cfg).

Every name here is a setting Scrapy 2.19 knows (scrapy.settings.default_settings), except banwatch's own,
all named BANWATCH_* and read by the spider (spiders/status.py) and the redirect guard (spiders/middlewares.py):

- BANWATCH_BASE_URLS: platform name -> base URL that replaces the platform's own (scheme and host), from the
  BANWATCH_<PLATFORM>_BASE_URL environment variables (monitor.settings.base_urls_from_env).
- BANWATCH_SECRETS: credential name -> value (monitor.settings.secrets_from_env), a SecretValues whose repr
  shows the names only. The values go into request headers and nowhere else; Scrapy's "Overridden settings"
  log line lists only the settings Scrapy itself defines, so never this one.
- BANWATCH_ANSWER_MAXSIZE: platform name -> largest answer read, in bytes, from BANWATCH_<PLATFORM>_MAX_ANSWER
  (monitor.settings.scrapy_overrides); a platform not in it is held to its Platform.max_answer.
- BANWATCH_PROXIES: platform name -> its HTTP(S) proxy URLs, from BANWATCH_<PLATFORM>_PROXY (one URL or several,
  separated by commas or whitespace; monitor.settings.proxies_from_env), a ProxyLists whose repr shows the
  platform names only. Each request of the platform goes through the next one, round-robin (spiders/egress.py,
  as the `proxy` request meta: Scrapy's HttpProxyMiddleware turns `user:password` into Proxy-Authorization). A
  proxy URL is a secret: monitor.redact masks it, its userinfo, password and host:port in every log line, and the
  spider in the error texts it stores.
- BANWATCH_BIND_ADDRESS: the local IP address every request is sent from (the `bindaddress` request meta), or ''
  for the system's choice; `banwatch check`/`run` set it from --bind-address (BANWATCH_BIND_ADDRESS), a
  `scrapy crawl status` dry run takes `-s BANWATCH_BIND_ADDRESS=...`.

The spider reads them from the crawler's settings, never from the environment: `banwatch` sets them on each
crawl (monitor/runner.py: the base URLs it was given, at cmdline priority); here they are read from the
environment once, when this module is loaded, which is what a `scrapy crawl status` dry run uses.
"""

import banwatch.spiders.platforms  # noqa: F401 - installs the platform registry the settings below are read against
from banwatch.monitor import __version__
from banwatch.monitor.settings import base_urls_from_env, proxies_from_env, secrets_from_env

BOT_NAME = "banwatch"
SPIDER_MODULES = ["banwatch.spiders.status"]
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
# The spider yields one item per answer: Scrapy's default of 100 spawned a task per item for nothing
# (profiled on 10,000 checks: 394 checks/s with 100, 529 with 1).
CONCURRENT_ITEMS = 1
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
DOWNLOADER_MIDDLEWARES = {"banwatch.spiders.middlewares.RedirectGuardMiddleware": 720}
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
FEED_EXPORT_ENCODING = "utf-8"

# banwatch's own settings (see the module docstring).
BANWATCH_BASE_URLS = base_urls_from_env()
BANWATCH_SECRETS = secrets_from_env()
BANWATCH_ANSWER_MAXSIZE: dict[str, int] = {}
BANWATCH_PROXIES = proxies_from_env()
BANWATCH_BIND_ADDRESS = ""
