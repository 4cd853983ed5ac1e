"""Infisical's official Python SDK (`infisicalsdk`, unmodified, from PyPI) against a running
Keyhold: log in with universal auth, make a folder, then create, read, list, update, read a past
version of, expand references in and delete a secret, and read an error the way the SDK shows it. Prints one JSON object
with what it saw; the Rust test that runs it makes the assertions.

Configuration from the environment: VAULT_URL, CLIENT_ID, CLIENT_SECRET, PROJECT_ID.
"""

import json
import os

from infisical_sdk import InfisicalSDKClient
from infisical_sdk.infisical_requests import APIError

url = os.environ["VAULT_URL"]
project = os.environ["PROJECT_ID"]
# No client-side cache: every call must reach Keyhold.
client = InfisicalSDKClient(host=url, cache_ttl=None)
client.auth.universal_auth.login(os.environ["CLIENT_ID"], os.environ["CLIENT_SECRET"])

seen = {}
folder = client.folders.create_folder(name="orders", environment_slug="dev", project_id=project, path="/")
seen["folder"] = {"name": folder.name}
seen["folders"] = [f.name for f in client.folders.list_folders(project_id=project, environment_slug="dev", path="/").folders]

created = client.secrets.create_secret_by_name(
    secret_name="ORDERS_DB_PASSWORD",
    secret_path="/orders",
    environment_slug="dev",
    project_id=project,
    secret_value="first-value",
    secret_comment="the orders database",
)
seen["created"] = {"key": created.secretKey, "version": created.version, "comment": created.secretComment}

got = client.secrets.get_secret_by_name(
    secret_name="ORDERS_DB_PASSWORD", environment_slug="dev", secret_path="/orders", project_id=project
)
seen["got"] = {"value": got.secretValue, "version": got.version, "environment": got.environment}

updated = client.secrets.update_secret_by_name(
    current_secret_name="ORDERS_DB_PASSWORD",
    secret_path="/orders",
    environment_slug="dev",
    project_id=project,
    secret_value="second-value",
)
seen["updated"] = {"version": updated.version}

latest = client.secrets.get_secret_by_name(
    secret_name="ORDERS_DB_PASSWORD", environment_slug="dev", secret_path="/orders", project_id=project
)
past = client.secrets.get_secret_by_name(
    secret_name="ORDERS_DB_PASSWORD", environment_slug="dev", secret_path="/orders", project_id=project, version="1"
)
seen["latest"] = {"value": latest.secretValue, "version": latest.version}
seen["past"] = {"value": past.secretValue, "version": past.version}

listed = client.secrets.list_secrets(environment_slug="dev", secret_path="/orders", project_id=project)
seen["listed"] = sorted((s.secretKey, s.secretValue) for s in listed.secrets)

# References: the SDK asks for expansion by default.
client.secrets.create_secret_by_name(
    secret_name="DB_HOST", secret_path="/", environment_slug="dev", project_id=project, secret_value="db.internal"
)
client.secrets.create_secret_by_name(
    secret_name="ORDERS_DB_URL",
    secret_path="/orders",
    environment_slug="dev",
    project_id=project,
    secret_value="postgres://orders:${ORDERS_DB_PASSWORD}@${dev.DB_HOST}/orders",
)
expanded = client.secrets.get_secret_by_name(
    secret_name="ORDERS_DB_URL", environment_slug="dev", secret_path="/orders", project_id=project
)
unexpanded = client.secrets.get_secret_by_name(
    secret_name="ORDERS_DB_URL",
    environment_slug="dev",
    secret_path="/orders",
    project_id=project,
    expand_secret_references=False,
)
seen["reference"] = {"expanded": expanded.secretValue, "raw": unexpanded.secretValue}
client.secrets.delete_secret_by_name(
    secret_name="ORDERS_DB_URL", secret_path="/orders", environment_slug="dev", project_id=project
)

try:
    client.secrets.get_secret_by_name(
        secret_name="NO_SUCH_SECRET", environment_slug="dev", secret_path="/orders", project_id=project
    )
    seen["missing"] = {"raised": False}
except APIError as err:
    seen["missing"] = {"raised": True, "status": err.status_code, "text": str(err)}

deleted = client.secrets.delete_secret_by_name(
    secret_name="ORDERS_DB_PASSWORD", secret_path="/orders", environment_slug="dev", project_id=project
)
seen["deleted"] = {"key": deleted.secretKey}
seen["after_delete"] = [s.secretKey for s in client.secrets.list_secrets(
    environment_slug="dev", secret_path="/orders", project_id=project).secrets]

print(json.dumps(seen))
