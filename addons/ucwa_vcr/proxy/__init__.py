"""The mitmproxy addons (the only part of ucwa-vcr with module-level mitmproxy imports, besides `testing/`)."""
