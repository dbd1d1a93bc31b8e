"""Drives the real PyPI `config-client` against a config-service and prints what it saw as JSON.

Usage: python_client.py ADDRESS APP PROFILES LABEL USER PASSWORD
"""
import json
import sys

from requests.auth import HTTPBasicAuth

from config.spring import ConfigClient

address, app, profiles, label, user, password = sys.argv[1:7]
auth = HTTPBasicAuth(user, password)
client = ConfigClient(address=address, app_name=app, profile=profiles, label=label, fail_fast=False)
client.get_config(auth=auth)
cipher = client.encrypt("from python", auth=auth)
print(json.dumps({
    "p1": client.get("global.params.p1"),
    "rate": client.get("billing.rate"),
    "currencies": client.get("billing.currencies"),
    "secret": client.get("db.password"),
    "file": client.get_file("nginx.conf", auth=auth),
    "roundTrip": client.decrypt(cipher, auth=auth),
}))
