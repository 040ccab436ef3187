"""The emulator's internals: HTTP plumbing, setWebhook's rules, delivery, results.

Private: import the public names from :mod:`flask_tgwebhook.testing`.
"""
