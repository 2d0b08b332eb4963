"""The operators' console: accounts, sign-in, and the pages' facts.

- :mod:`ivr.console.accounts`: operator names and password hashes (never passwords),
  from the file named by ``IVR_OPERATORS_FILE`` and the ``IVR_OPERATORS`` variable,
  and the ``ivr operator add NAME`` command.
- :mod:`ivr.console.guard`: the signed session cookie, CSRF tokens and the
  failed-login lockout.
- :mod:`ivr.console.pages`: what each page shows, built from the live script and the
  store the line writes. The web blueprint is :mod:`ivr.web.console`.
"""
