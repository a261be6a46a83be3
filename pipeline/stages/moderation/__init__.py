"""Screening texts with OpenAI's moderation endpoint, for the `moderation` stage.

One module per concern:
  screened_texts  which texts of an example are screened (by role), and their chunks (chunking)
  chunking        splitting long texts into overlapping chunks under a character limit
  rate_budget     pacing under requests- and tokens-per-minute budgets, adapting on 429 (AIMD)
  retry_policy    backoff delays and the server's retry-after / retry-after-ms hints
  response        strict parsing of a /v1/moderations answer (a bad answer is retried, never trusted)
  client          one request through the official `openai` SDK, its failures sorted into retryable/fatal
  cache           the persistent answer cache (sqlite, WAL): text hashes and results, never raw text
  screener        the orchestration: dedupe, cache lookup, batching, concurrent requests, progress
  decision        flagged / per-category thresholds -> which categories and scores decided
"""
