"""The staff web console at /console/: server-rendered pages (Jinja2) with small scripts.

Staff sign in with the existing password login; the console keeps a server-side session behind an
HttpOnly, SameSite=Strict cookie (identity/web_sessions.py). That cookie signs in the same API routes
the mini-program and curl use (server/auth.py), so every page reads and acts through the same
services, guards and scopes: no rule is written twice. Pages take the roles of the API routes they
use (``pages.roles_of``).
"""
