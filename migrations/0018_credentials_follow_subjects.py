"""Credentials realigned with their subjects (data only). Before, moving a bike left its e-ID credential's
node (who may read, print, reissue and revoke it; which area's sheet prints it) where the bike was, and
editing a bike's make or colour or a board's title left the label its sticker prints as it was. The
services now keep them together; this brings the rows written before up to date. Labels are written
as the services derive them (a label is masked where it is shown and drawn). Running it again
changes nothing; going back leaves the rows as they are (they were wrong before)."""

from tortoise import migrations
from tortoise.migrations import operations as ops

# Correlated subqueries: the same statements run on SQLite and PostgreSQL.
FORWARD = [
    "UPDATE qr_credential SET "
    "node_path = (SELECT e.node_path FROM ebike e WHERE e.credential_id = qr_credential.public_id), "
    "label = (SELECT substr(e.brand || ' ' || e.colour, 1, 64) FROM ebike e "
    "WHERE e.credential_id = qr_credential.public_id) "
    "WHERE kind = 'ebike' AND EXISTS (SELECT 1 FROM ebike e WHERE e.credential_id = qr_credential.public_id)",
    "UPDATE qr_credential SET "
    "node_path = (SELECT b.node_path FROM party_board b WHERE b.credential_id = qr_credential.public_id), "
    "label = (SELECT substr(b.title, 1, 64) FROM party_board b WHERE b.credential_id = qr_credential.public_id) "
    "WHERE kind = 'board' AND EXISTS (SELECT 1 FROM party_board b WHERE b.credential_id = qr_credential.public_id)",
    "UPDATE qr_credential SET "
    "node_path = (SELECT g.node_path FROM building g WHERE g.credential_id = qr_credential.public_id) "
    "WHERE kind = 'building' AND EXISTS (SELECT 1 FROM building g WHERE g.credential_id = qr_credential.public_id)",
]


class Migration(migrations.Migration):
    dependencies = [("models", "0017_hierarchy_division_code")]

    initial = False

    operations = [ops.RunSQL(FORWARD, [])]
