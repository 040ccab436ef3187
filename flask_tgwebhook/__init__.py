"""Flask extension for Telegram bots on webhooks."""
