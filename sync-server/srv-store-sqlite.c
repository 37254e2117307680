/* The master store's SQLite backend: the encrypted gk-store, a pool of
 * connections for the worker threads, and every SQL string of the server. */
#include "srv-store-private.h"

#include <json-glib/json-glib.h>
#include <stdarg.h>
#include <string.h>

#include "gk-store.h"
#include "gk-ticket.h"
#include "srv-audit-private.h"
#include "srv-auth-store-private.h"
#include "srv-host-store-private.h"
#include "srv-outbox-private.h"
#include "srv-retention-private.h"
#include "srv-export-private.h"
#include "gk-visit.h"

/* ---- schema ------------------------------------------------------------------
 *
 * Version 1 is the whole initial schema; later changes are new entries, never
 * edits of old ones. Times are Unix seconds (UTC), NULL where "never".
 *
 * The change feed: every row a device must learn (tickets, hosts, redemptions,
 * signing keys) carries `seq`, taken from the one-row counter feed_seq inside the
 * transaction that writes the row. SQLite has one writer at a time and the write
 * lock is held from BEGIN IMMEDIATE to COMMIT, so seq values become visible in
 * increasing order: a reader that has seen seq N will never later find a new row
 * with seq <= N, and a cursor resumes without gaps. (PostgreSQL will need more
 * care here: concurrent transactions commit out of seq order.)
 *
 * Personal data: tickets.visitor_name and .company, hosts.email. The feed carries
 * the visitor's name (reception shows today's visitors) but never the company or
 * any e-mail address. */
static const GkMigration migrations[] = {
  { 1,
    "CREATE TABLE feed_seq ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  value INTEGER NOT NULL);"
    "INSERT INTO feed_seq (id, value) VALUES (1, 0);"

    "CREATE TABLE sites ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE CHECK (length(name) > 0),"
    "  created_at INTEGER NOT NULL);"

    "CREATE TABLE accounts ("
    "  id INTEGER PRIMARY KEY,"
    "  username TEXT NOT NULL UNIQUE CHECK (length(username) > 0),"
    "  password_hash TEXT NOT NULL CHECK (length(password_hash) > 0),"
    "  role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'receptionist', 'security', 'auditor')),"
    "  must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),"
    "  created_at INTEGER NOT NULL);"

    /* Only the SHA-256 of a session token is stored. */
    "CREATE TABLE sessions ("
    "  token_hash BLOB PRIMARY KEY CHECK (length(token_hash) = 32),"
    "  account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,"
    "  created_at INTEGER NOT NULL,"
    "  last_used_at INTEGER NOT NULL,"
    "  ip TEXT) WITHOUT ROWID;"
    "CREATE INDEX sessions_account ON sessions (account_id);"

    /* UNIQUE (id, site_id) is the target of tickets' (host_id, site_id) key, so a
     * ticket can only name a host of its own site. */
    "CREATE TABLE hosts ("
    "  id INTEGER PRIMARY KEY,"
    "  site_id INTEGER NOT NULL REFERENCES sites (id),"
    "  name TEXT NOT NULL CHECK (length(name) > 0),"
    "  reading TEXT,"
    "  email TEXT,"
    "  department TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  UNIQUE (id, site_id));"
    "CREATE INDEX hosts_site_name ON hosts (site_id, name);"
    "CREATE INDEX hosts_feed ON hosts (site_id, seq);"

    "CREATE TABLE tickets ("
    "  id BLOB PRIMARY KEY CHECK (typeof(id) = 'blob' AND length(id) = 16),"
    "  site_id INTEGER NOT NULL REFERENCES sites (id),"
    "  host_id INTEGER,"
    "  visitor_name TEXT NOT NULL CHECK (length(visitor_name) > 0),"
    "  company TEXT,"
    "  valid_from INTEGER NOT NULL,"
    "  valid_until INTEGER NOT NULL CHECK (valid_until >= valid_from),"
    "  flags INTEGER NOT NULL CHECK (flags BETWEEN 0 AND 255),"
    "  key_id INTEGER NOT NULL CHECK (key_id BETWEEN 0 AND 65535),"
    "  text TEXT NOT NULL CHECK (length(text) > 0),"
    "  revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),"
    "  created_at INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  FOREIGN KEY (host_id, site_id) REFERENCES hosts (id, site_id)) WITHOUT ROWID;"
    "CREATE INDEX tickets_feed ON tickets (site_id, seq);"

    /* Public halves only; keys are global (every site verifies every key). */
    "CREATE TABLE signing_keys ("
    "  key_id INTEGER PRIMARY KEY CHECK (key_id BETWEEN 0 AND 65535),"
    "  public_key BLOB NOT NULL CHECK (typeof(public_key) = 'blob' AND length(public_key) = 32),"
    "  created_at INTEGER NOT NULL,"
    "  retired_at INTEGER,"
    "  seq INTEGER NOT NULL);"
    "CREATE INDEX signing_keys_feed ON signing_keys (seq);"

    /* serial: the client certificate's serial (RFC 5280 allows up to 20 octets;
     * mbedTLS up to 32). */
    "CREATE TABLE devices ("
    "  id TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),"
    "  site_id INTEGER NOT NULL REFERENCES sites (id),"
    "  name TEXT NOT NULL CHECK (length(name) > 0),"
    "  mode TEXT NOT NULL CHECK (mode IN ('reception', 'gate')),"
    "  serial BLOB NOT NULL UNIQUE CHECK (length(serial) BETWEEN 1 AND 32),"
    "  cert_expires_at INTEGER NOT NULL,"
    "  enrolled_at INTEGER NOT NULL,"
    "  revoked_at INTEGER,"
    "  last_seen_at INTEGER,"
    "  clock_offset_ms INTEGER NOT NULL DEFAULT 0,"
    "  queue_length INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX devices_site ON devices (site_id, name);"
    "CREATE INDEX devices_revoked ON devices (revoked_at) WHERE revoked_at IS NOT NULL;"

    /* device_id is written in the same transaction as the device row, just before
     * it: hence the deferred check. */
    "CREATE TABLE enroll_codes ("
    "  token_hash BLOB PRIMARY KEY CHECK (length(token_hash) = 32),"
    "  site_id INTEGER NOT NULL REFERENCES sites (id),"
    "  name TEXT NOT NULL CHECK (length(name) > 0),"
    "  mode TEXT NOT NULL CHECK (mode IN ('reception', 'gate')),"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  used_at INTEGER,"
    "  device_id TEXT REFERENCES devices (id) DEFERRABLE INITIALLY DEFERRED) WITHOUT ROWID;"

    /* Everything devices report, kept as sent (ticket_id has no foreign key: an
     * offline device may report a ticket the server does not know). outcome is
     * set on online redemptions (srv_store_redeem) so that a repeated request
     * answers what the first one did; conflict marks a second admission. */
    "CREATE TABLE events ("
    "  id TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),"
    "  device_id TEXT NOT NULL REFERENCES devices (id),"
    "  site_id INTEGER NOT NULL REFERENCES sites (id),"
    "  kind TEXT NOT NULL CHECK (kind IN ('checkin', 'checkout', 'scan-rejected', 'audit')),"
    "  ticket_id BLOB CHECK (ticket_id IS NULL OR length(ticket_id) = 16),"
    "  device_time INTEGER NOT NULL,"
    "  server_time INTEGER NOT NULL,"
    "  offline INTEGER NOT NULL CHECK (offline IN (0, 1)),"
    "  reason TEXT,"
    "  conflict INTEGER NOT NULL DEFAULT 0 CHECK (conflict IN (0, 1)),"
    "  outcome TEXT CHECK (outcome IS NULL OR"
    "                      outcome IN ('accepted', 'already-used', 'revoked', 'unknown')));"
    "CREATE INDEX events_ticket ON events (ticket_id);"
    "CREATE INDEX events_site_time ON events (site_id, device_time);"

    /* The first admission of a one-time ticket: at most one row per ticket, which
     * is what makes online redemption atomic. redeemed_at is the server's time for
     * an online redemption, the device's for an offline one. */
    "CREATE TABLE redemptions ("
    "  ticket_id BLOB PRIMARY KEY REFERENCES tickets (id),"
    "  site_id INTEGER NOT NULL REFERENCES sites (id),"
    "  device_id TEXT NOT NULL REFERENCES devices (id),"
    "  event_id TEXT NOT NULL REFERENCES events (id) DEFERRABLE INITIALLY DEFERRED,"
    "  redeemed_at INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX redemptions_feed ON redemptions (site_id, seq);"

    /* One alert per conflicting event (UNIQUE event_id: a replayed batch raises
     * no second alert). */
    "CREATE TABLE alerts ("
    "  id INTEGER PRIMARY KEY,"
    "  site_id INTEGER NOT NULL REFERENCES sites (id),"
    "  kind TEXT NOT NULL CHECK (kind IN ('double-entry')),"
    "  ticket_id BLOB NOT NULL CHECK (length(ticket_id) = 16),"
    "  event_id TEXT NOT NULL UNIQUE REFERENCES events (id) DEFERRABLE INITIALLY DEFERRED,"
    "  first_event_id TEXT NOT NULL REFERENCES events (id) DEFERRABLE INITIALLY DEFERRED,"
    "  device_id TEXT NOT NULL,"
    "  first_device_id TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX alerts_site ON alerts (site_id, created_at);" },
  /* 2: settings an admin sets for one device, and which version the device runs. */
  { 2,
    "CREATE TABLE device_settings ("
    "  device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 64),"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (device_id, key));"
    "ALTER TABLE devices ADD COLUMN config_version INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE devices ADD COLUMN running_config_version INTEGER NOT NULL DEFAULT 0;" },
  /* 3: reception visits. Invitations are tickets with a purpose, labels and the
   * SHA-256 of a reception code (gk_reception_code_hash; never the code). A
   * visit is opened by every check-in of a ticket (its id derived from the
   * event id, so device and server agree) and by every walk-in; a check-out
   * closes it. Walk-ins are stored as check-in events without a ticket (the
   * kind check of events cannot change in place) plus their visit row.
   * Personal data: visits.visitor_name, .company, .purpose; tickets.purpose. */
  { 3,
    "ALTER TABLE tickets ADD COLUMN purpose TEXT;"
    "ALTER TABLE tickets ADD COLUMN labels TEXT;"
    "ALTER TABLE tickets ADD COLUMN code_hash BLOB CHECK (code_hash IS NULL OR length(code_hash) = 32);"
    "CREATE INDEX tickets_code ON tickets (site_id, code_hash) WHERE code_hash IS NOT NULL;"
    "ALTER TABLE events ADD COLUMN visit_id TEXT;"
    /* What the wrong-code limit counts: online code attempts that matched nothing. */
    "CREATE INDEX events_bad_code ON events (device_id, server_time) WHERE reason = 'bad-code';"
    "CREATE TABLE visits ("
    "  id TEXT PRIMARY KEY CHECK (length(id) = 36 AND substr(id, 1, 4) = 'vis-'),"
    "  site_id INTEGER NOT NULL REFERENCES sites (id),"
    "  device_id TEXT NOT NULL REFERENCES devices (id),"
    "  kind TEXT NOT NULL CHECK (kind IN ('walkin', 'ticket')),"
    "  ticket_id BLOB CHECK (ticket_id IS NULL OR length(ticket_id) = 16),"
    "  visitor_name TEXT NOT NULL CHECK (length(visitor_name) > 0),"
    "  company TEXT,"
    "  purpose TEXT,"
    "  host_id INTEGER,"
    "  terms_accepted INTEGER NOT NULL DEFAULT 0 CHECK (terms_accepted IN (0, 1)),"
    "  checkin_event_id TEXT NOT NULL UNIQUE REFERENCES events (id) DEFERRABLE INITIALLY DEFERRED,"
    "  checked_in_at INTEGER NOT NULL,"
    "  checked_out_at INTEGER,"
    "  checkout_event_id TEXT REFERENCES events (id) DEFERRABLE INITIALLY DEFERRED,"
    "  created_at INTEGER NOT NULL,"
    "  FOREIGN KEY (host_id, site_id) REFERENCES hosts (id, site_id)) WITHOUT ROWID;"
    "CREATE INDEX visits_site_time ON visits (site_id, checked_in_at);"
    "CREATE INDEX visits_open_ticket ON visits (ticket_id, checked_in_at) WHERE checked_out_at IS NULL;" },
  /* 4: staff notifications (srv-outbox-sqlite.c has their SQL). notify_settings:
   * per host, the site default, and the site's security and admins channels;
   * the webhook secret is stored here (the whole store is encrypted) and never
   * shown again. notifications: the durable outbox; each row is written in the
   * transaction of what raised it and carries what it needs to be sent (a
   * snapshot of channel, target and secret, and the facts of the message).
   * UNIQUE (kind, source, recipient) makes a replayed event queue nothing.
   * Personal data: notifications.facts, .target; notify_settings.target. */
  { 4,
    "CREATE TABLE notify_settings ("
    "  site_id INTEGER NOT NULL REFERENCES sites (id),"
    "  scope TEXT NOT NULL CHECK (scope IN ('host', 'default', 'security', 'admins')),"
    "  host_id INTEGER NOT NULL DEFAULT 0,"
    "  channel TEXT NOT NULL CHECK (channel IN ('email', 'slack', 'teams', 'webhook', 'none')),"
    "  target TEXT CHECK (target IS NULL OR length(target) BETWEEN 1 AND 2048),"
    "  language TEXT NOT NULL CHECK (language IN ('ja', 'en')),"
    "  secret TEXT,"
    "  offline_after_s INTEGER NOT NULL DEFAULT 0 CHECK (offline_after_s >= 0),"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (site_id, scope, host_id),"
    "  CHECK ((scope = 'host') = (host_id <> 0)));"
    "CREATE TABLE notifications ("
    "  id TEXT PRIMARY KEY CHECK (length(id) = 36 AND substr(id, 1, 4) = 'ntf-'),"
    "  site_id INTEGER NOT NULL REFERENCES sites (id),"
    "  kind TEXT NOT NULL CHECK (kind IN ('checkin', 'walkin', 'double-entry', 'device-offline')),"
    "  source TEXT NOT NULL,"
    "  recipient TEXT NOT NULL,"
    "  channel TEXT NOT NULL CHECK (channel IN ('email', 'slack', 'teams', 'webhook')),"
    "  target TEXT NOT NULL,"
    "  language TEXT NOT NULL CHECK (language IN ('ja', 'en')),"
    "  secret TEXT,"
    "  facts TEXT NOT NULL CHECK (json_valid(facts)),"
    "  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at INTEGER NOT NULL,"
    "  window_start INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  delivered_at INTEGER,"
    "  last_error TEXT,"
    "  UNIQUE (kind, source, recipient));"
    "CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';"
    "CREATE INDEX notifications_site ON notifications (site_id, created_at);" },
  /* 5: the audit log (srv-audit-sqlite.c has its SQL, docs/audit.md the chain).
   * Append-only: triggers refuse any UPDATE and any DELETE above the chain's
   * base, which only a purge moves forward (oldest entries first), and an
   * INSERT that is not the next seq. No foreign keys: entries outlive the
   * sites, accounts and devices they name. No personal data: targets are ids. */
  { 5,
    "CREATE TABLE audit_log ("
    "  seq INTEGER PRIMARY KEY CHECK (seq > 0),"
    "  at INTEGER NOT NULL,"
    "  site_id INTEGER NOT NULL,"
    "  actor_kind TEXT NOT NULL CHECK (actor_kind IN ('none', 'account', 'device', 'system')),"
    "  actor TEXT NOT NULL CHECK (length(actor) BETWEEN 1 AND 128),"
    "  source_ip TEXT NOT NULL CHECK (length(source_ip) BETWEEN 1 AND 64),"
    "  action TEXT NOT NULL CHECK (length(action) BETWEEN 1 AND 64),"
    "  target TEXT NOT NULL CHECK (length(target) <= 256),"
    "  result TEXT NOT NULL CHECK (result IN ('ok', 'refused', 'error')),"
    "  reason TEXT NOT NULL CHECK (length(reason) <= 64),"
    "  prev_hash BLOB NOT NULL CHECK (length(prev_hash) = 32),"
    "  hash BLOB NOT NULL CHECK (length(hash) = 32));"
    "CREATE INDEX audit_log_site_at ON audit_log (site_id, at);"
    "CREATE INDEX audit_log_actor ON audit_log (actor, seq);"
    "CREATE TABLE audit_chain ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  base_seq INTEGER NOT NULL CHECK (base_seq >= 0),"
    "  base_hash BLOB NOT NULL CHECK (length(base_hash) = 32));"
    "INSERT INTO audit_chain (id, base_seq, base_hash) VALUES (1, 0, zeroblob(32));"
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TRIGGER audit_log_purge_only BEFORE DELETE ON audit_log"
    " WHEN old.seq > (SELECT base_seq FROM audit_chain WHERE id = 1)"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TRIGGER audit_log_next_seq BEFORE INSERT ON audit_log"
    " WHEN new.seq <> coalesce((SELECT max(seq) FROM audit_log), (SELECT base_seq FROM audit_chain WHERE id = 1)) + 1"
    " BEGIN SELECT RAISE(ABORT, 'audit entries are appended in seq order'); END;"
    "CREATE TRIGGER audit_chain_forward BEFORE UPDATE ON audit_chain"
    " WHEN new.base_seq < old.base_seq OR new.id <> old.id"
    "  OR (new.base_seq = old.base_seq AND new.base_hash IS NOT old.base_hash)"
    " BEGIN SELECT RAISE(ABORT, 'the audit chain base only moves forward'); END;"
    "CREATE TRIGGER audit_chain_kept BEFORE DELETE ON audit_chain"
    " BEGIN SELECT RAISE(ABORT, 'the audit chain base is kept'); END;" },
  /* 6: accounts and sign-in (srv-auth-sqlite.c has the SQL). Accounts other
   * than owners act on the sites listed in account_sites (the existing ones get
   * the first site); owners on every site. TOTP secrets (20 bytes) live in the
   * encrypted store: totp_pending until the first code confirms enrollment;
   * totp_last_step is the step of the last accepted code, so no code counts
   * twice. Recovery codes and session tokens are kept as SHA-256 hashes only.
   * login_failures feeds the rate limits (rows older than a day go). Allow-
   * lists hold canonical CIDR texts (srv-cidr.h). */
  { 6,
    "ALTER TABLE accounts ADD COLUMN disabled_at INTEGER;"
    "ALTER TABLE accounts ADD COLUMN last_login_at INTEGER;"
    "ALTER TABLE accounts ADD COLUMN totp_secret BLOB CHECK (totp_secret IS NULL OR length(totp_secret) = 20);"
    "ALTER TABLE accounts ADD COLUMN totp_pending BLOB CHECK (totp_pending IS NULL OR length(totp_pending) = 20);"
    "ALTER TABLE accounts ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE sessions ADD COLUMN second_factor INTEGER NOT NULL DEFAULT 0 CHECK (second_factor IN (0, 1));"
    "CREATE TABLE account_sites ("
    "  account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,"
    "  site_id INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,"
    "  PRIMARY KEY (account_id, site_id)) WITHOUT ROWID;"
    "CREATE INDEX account_sites_site ON account_sites (site_id);"
    "INSERT INTO account_sites (account_id, site_id)"
    " SELECT a.id, s.id FROM accounts a, (SELECT min(id) AS id FROM sites) s"
    " WHERE a.role <> 'owner' AND s.id IS NOT NULL;"
    /* srv_store_account_add() names no sites: such an account gets the first
     * one, as the existing accounts did above (srv-auth-sqlite.c replaces the
     * list in the same transaction when it creates an account with sites). */
    "CREATE TRIGGER accounts_first_site AFTER INSERT ON accounts WHEN new.role <> 'owner'"
    " BEGIN INSERT INTO account_sites (account_id, site_id)"
    "  SELECT new.id, (SELECT min(id) FROM sites) WHERE EXISTS (SELECT 1 FROM sites); END;"
    "CREATE TABLE recovery_codes ("
    "  account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,"
    "  code_hash BLOB NOT NULL CHECK (length(code_hash) = 32),"
    "  used_at INTEGER,"
    "  PRIMARY KEY (account_id, code_hash)) WITHOUT ROWID;"
    "CREATE TABLE login_failures ("
    "  id INTEGER PRIMARY KEY,"
    "  account_id INTEGER REFERENCES accounts (id) ON DELETE CASCADE,"
    "  ip TEXT NOT NULL CHECK (length(ip) BETWEEN 1 AND 64),"
    "  at INTEGER NOT NULL);"
    "CREATE INDEX login_failures_account ON login_failures (account_id, at) WHERE account_id IS NOT NULL;"
    "CREATE INDEX login_failures_ip ON login_failures (ip, at);"
    "CREATE INDEX login_failures_at ON login_failures (at);"
    "CREATE TABLE site_allow_list ("
    "  site_id INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,"
    "  cidr TEXT NOT NULL CHECK (length(cidr) BETWEEN 1 AND 64),"
    "  PRIMARY KEY (site_id, cidr)) WITHOUT ROWID;"
    "CREATE TABLE account_allow_list ("
    "  account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,"
    "  cidr TEXT NOT NULL CHECK (length(cidr) BETWEEN 1 AND 64),"
    "  PRIMARY KEY (account_id, cidr)) WITHOUT ROWID;" },
  /* 7: invitation e-mails (srv-outbox-sqlite.c): a ticket issued with the
   * visitor's address queues kind 'invitation' to recipient 'visitor' in its
   * own transaction. visitor_secrets holds what only the visitor may see (the
   * reception code in plain and the ticket's QR text) until the e-mail is
   * delivered, when it is cleared with the webhook secret. SQLite cannot widen
   * a CHECK in place, so the table is rebuilt (nothing refers to it).
   * Personal data: notifications.visitor_secrets. */
  { 7,
    "CREATE TABLE notifications_new ("
    "  id TEXT PRIMARY KEY CHECK (length(id) = 36 AND substr(id, 1, 4) = 'ntf-'),"
    "  site_id INTEGER NOT NULL REFERENCES sites (id),"
    "  kind TEXT NOT NULL CHECK (kind IN ('checkin', 'walkin', 'double-entry', 'device-offline', 'invitation')),"
    "  source TEXT NOT NULL,"
    "  recipient TEXT NOT NULL,"
    "  channel TEXT NOT NULL CHECK (channel IN ('email', 'slack', 'teams', 'webhook')),"
    "  target TEXT NOT NULL,"
    "  language TEXT NOT NULL CHECK (language IN ('ja', 'en')),"
    "  secret TEXT,"
    "  facts TEXT NOT NULL CHECK (json_valid(facts)),"
    "  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at INTEGER NOT NULL,"
    "  window_start INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  delivered_at INTEGER,"
    "  last_error TEXT,"
    "  visitor_secrets TEXT CHECK (visitor_secrets IS NULL OR json_valid(visitor_secrets)),"
    "  UNIQUE (kind, source, recipient),"
    "  CHECK ((kind = 'invitation') = (recipient = 'visitor')));"
    "INSERT INTO notifications_new (id, site_id, kind, source, recipient, channel, target, language, secret,"
    " facts, status, attempts, next_attempt_at, window_start, created_at, delivered_at, last_error)"
    " SELECT id, site_id, kind, source, recipient, channel, target, language, secret, facts, status, attempts,"
    " next_attempt_at, window_start, created_at, delivered_at, last_error FROM notifications;"
    "DROP TABLE notifications;"
    "ALTER TABLE notifications_new RENAME TO notifications;"
    "CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';"
    "CREATE INDEX notifications_site ON notifications (site_id, created_at);" },
  /* 8: walk-in photos (the device setting "photo"): a JPEG of at most 64 KiB
   * pushed with the walk-in event, kept apart from the visit row so lists never
   * read it, shown only to roles with the visits.photo right.
   * Personal data: visit_photos.jpeg. */
  { 8,
    "CREATE TABLE visit_photos ("
    "  visit_id TEXT PRIMARY KEY REFERENCES visits (id) ON DELETE CASCADE,"
    "  jpeg BLOB NOT NULL CHECK (length(jpeg) BETWEEN 5 AND 65536 AND substr(jpeg, 1, 3) = x'FFD8FF'));" },
  /* 9: data protection (administration issue). sites: how long visitors'
   * personal data is kept after the visit and how long the audit log is kept,
   * in days (the scheduled retention purge reads them). hosts.removed_at: a
   * removed host stays only as a tombstone (name kept, contact data cleared)
   * while tickets or visits still name it; lists, search and the device feed
   * leave it out, and the purge drops it once nothing refers to it.
   * accounts.may_export: exporting personal data as CSV is a permission of
   * its own, granted per account (owners always hold it). */
  { 9,
    "ALTER TABLE sites ADD COLUMN visitor_retention_days INTEGER NOT NULL DEFAULT 90"
    " CHECK (visitor_retention_days BETWEEN 1 AND 3650);"
    "ALTER TABLE sites ADD COLUMN audit_retention_days INTEGER NOT NULL DEFAULT 400"
    " CHECK (audit_retention_days BETWEEN 180 AND 3650);"
    "ALTER TABLE hosts ADD COLUMN removed_at INTEGER;"
    "CREATE INDEX hosts_site_email ON hosts (site_id, email) WHERE removed_at IS NULL;"
    "ALTER TABLE accounts ADD COLUMN may_export INTEGER NOT NULL DEFAULT 0 CHECK (may_export IN (0, 1));" },
  /* 10: retention (srv-retention-sqlite.c). Deleting an event makes SQLite
   * look for rows that still refer to it (foreign keys); without an index on
   * the referring column each look is a scan, so purging n visits took time in
   * n squared (bench-retention: 10,000 visits in 100 s, holding the write lock). */
  { 10,
    "CREATE INDEX visits_checkout_event ON visits (checkout_event_id);"
    "CREATE INDEX redemptions_event ON redemptions (event_id);"
    "CREATE INDEX alerts_first_event ON alerts (first_event_id);" },
};

const GkMigration *
srv_store_sqlite_migrations(gsize *n_migrations)
{
  if (n_migrations != NULL)
    *n_migrations = G_N_ELEMENTS(migrations);
  return migrations;
}

/* ---- statements ----------------------------------------------------------------- */

typedef enum {
  Q_SEQ_NEXT,
  Q_SITE_ADD,
  Q_SITE_DEFAULT,
  Q_ACCOUNT_ADD,
  Q_ACCOUNT_GET,
  Q_ACCOUNT_GET_BY_ID,
  Q_ACCOUNT_SET_PASSWORD,
  Q_ACCOUNT_END_SESSIONS,
  Q_SESSION_ADD,
  Q_SESSION_GET,
  Q_SESSION_TOUCH,
  Q_SESSION_DELETE,
  Q_HOST_ADD,
  Q_HOST_LIST,
  Q_HOST_BY_ID,
  Q_HOST_BY_NAME,
  Q_TICKET_ADD,
  Q_TICKET_GET,
  Q_TICKET_EXISTS,
  Q_TICKET_REVOKE,
  Q_TICKET_OF_SITE,
  Q_KEY_ADD,
  Q_ENROLL_ADD,
  Q_ENROLL_CLAIM,
  Q_ENROLL_GET,
  Q_DEVICE_ADD,
  Q_DEVICE_LIST,
  Q_DEVICE_GET,
  Q_DEVICE_BY_SERIAL,
  Q_DEVICE_REVOKE,
  Q_DEVICE_REVOKED_SERIALS,
  Q_DEVICE_SEEN,
  Q_DEVICE_RENEW,
  Q_SETTING_PUT,
  Q_SETTING_DELETE,
  Q_SETTINGS_GET,
  Q_DEVICE_CONFIG_BUMP,
  Q_DEVICE_SET_MODE,
  Q_DEVICE_CONFIG_RUNNING,
  Q_EVENT_GET,
  Q_EVENT_ADD,
  Q_EVENT_SET_CONFLICT,
  Q_REDEMPTION_CLAIM,
  Q_REDEMPTION_GET,
  Q_REDEMPTION_MOVE,
  Q_ALERT_ADD,
  Q_CHECKIN_LIST,
  Q_ALERT_LIST,
  Q_CHANGES,
  Q_CODE_IN_USE,
  Q_CODE_FIND,
  Q_CODE_WRONG_COUNT,
  Q_VISIT_FROM_TICKET,
  Q_VISIT_ADD,
  Q_VISIT_CLOSE,
  Q_VISIT_CLOSE_TICKET,
  Q_VISIT_BY_EVENT,
  Q_VISIT_LIST,
  Q_VISIT_LIST_PRESENT,
  Q_VISIT_PHOTO_ADD,
  Q_VISIT_PHOTO_GET,
  N_QUERIES
} QueryId;

#define ACCOUNT_COLS "id, username, password_hash, role, must_change_password"
#define HOST_COLS    "id, site_id, name, reading, email, department"
#define TICKET_COLS                                                                       \
  "id, site_id, host_id, visitor_name, company, valid_from, valid_until, flags, key_id, " \
  "text, revoked, created_at, purpose, labels, code_hash"
#define DEVICE_COLS                                                                    \
  "id, site_id, name, mode, serial, cert_expires_at, enrolled_at, revoked_at, "        \
  "last_seen_at, clock_offset_ms, queue_length, config_version, running_config_version"

#define VISIT_LIST_SQL(condition)                                                                     \
  "SELECT v.id, v.kind, v.device_id, v.ticket_id, v.visitor_name, v.company, v.purpose, v.host_id, h.name," \
  " t.labels, v.terms_accepted, v.checked_in_at, v.checked_out_at, v.created_at,"                          \
  " EXISTS (SELECT 1 FROM visit_photos p WHERE p.visit_id = v.id)"                                          \
  " FROM visits v LEFT JOIN hosts h ON h.id = v.host_id AND h.site_id = v.site_id"                         \
  " LEFT JOIN tickets t ON t.id = v.ticket_id"                                                             \
  " WHERE v.site_id = ?1" condition " ORDER BY v.checked_in_at DESC, v.id DESC LIMIT ?2"

/* Every value is a bound parameter; nothing here is ever formatted with data. */
static const char *const query_sql[N_QUERIES] = {
  [Q_SEQ_NEXT] = "UPDATE feed_seq SET value = value + 1 WHERE id = 1 RETURNING value",
  [Q_SITE_ADD] = "INSERT INTO sites (name, created_at) VALUES (?1, ?2)",
  [Q_SITE_DEFAULT] = "SELECT id, name FROM sites ORDER BY id LIMIT 1",
  [Q_ACCOUNT_ADD] = "INSERT INTO accounts (username, password_hash, role, must_change_password, created_at)"
                    " VALUES (?1, ?2, ?3, ?4, ?5)",
  [Q_ACCOUNT_GET] = "SELECT " ACCOUNT_COLS " FROM accounts WHERE username = ?1",
  [Q_ACCOUNT_GET_BY_ID] = "SELECT " ACCOUNT_COLS " FROM accounts WHERE id = ?1",
  [Q_ACCOUNT_SET_PASSWORD] = "UPDATE accounts SET password_hash = ?2, must_change_password = 0 WHERE id = ?1",
  [Q_ACCOUNT_END_SESSIONS] = "DELETE FROM sessions WHERE account_id = ?1",
  [Q_SESSION_ADD] = "INSERT INTO sessions (token_hash, account_id, created_at, last_used_at, ip)"
                    " VALUES (?1, ?2, ?3, ?3, ?4)",
  [Q_SESSION_GET] = "SELECT account_id, created_at, last_used_at FROM sessions WHERE token_hash = ?1",
  [Q_SESSION_TOUCH] = "UPDATE sessions SET last_used_at = ?2 WHERE token_hash = ?1",
  [Q_SESSION_DELETE] = "DELETE FROM sessions WHERE token_hash = ?1",
  [Q_HOST_ADD] = "INSERT INTO hosts (site_id, name, reading, email, department, created_at, seq)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
  /* Removed hosts (srv-host-sqlite.c) are tombstones: no list, ticket or walk-in finds them. */
  [Q_HOST_LIST] = "SELECT " HOST_COLS " FROM hosts WHERE site_id = ?1 AND removed_at IS NULL ORDER BY name, id",
  [Q_HOST_BY_ID] = "SELECT " HOST_COLS " FROM hosts WHERE site_id = ?1 AND id = ?2 AND removed_at IS NULL",
  [Q_HOST_BY_NAME] = "SELECT " HOST_COLS " FROM hosts WHERE site_id = ?1 AND name = ?2 AND removed_at IS NULL"
                     " ORDER BY id LIMIT 2",
  [Q_TICKET_ADD] = "INSERT INTO tickets (" TICKET_COLS ", seq)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
  [Q_TICKET_GET] = "SELECT " TICKET_COLS " FROM tickets WHERE id = ?1",
  [Q_TICKET_EXISTS] = "SELECT 1 FROM tickets WHERE id = ?1",
  [Q_TICKET_REVOKE] = "UPDATE tickets SET revoked = 1, seq = ?2 WHERE id = ?1 AND revoked = 0",
  [Q_TICKET_OF_SITE] = "SELECT flags, revoked FROM tickets WHERE id = ?1 AND site_id = ?2",
  [Q_KEY_ADD] = "INSERT INTO signing_keys (key_id, public_key, created_at, seq) VALUES (?1, ?2, ?3, ?4)",
  [Q_ENROLL_ADD] = "INSERT INTO enroll_codes (token_hash, site_id, name, mode, created_at, expires_at)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
  [Q_ENROLL_CLAIM] = "UPDATE enroll_codes SET used_at = ?2, device_id = ?3"
                     " WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
  [Q_ENROLL_GET] = "SELECT site_id, name, mode FROM enroll_codes WHERE token_hash = ?1",
  [Q_DEVICE_ADD] = "INSERT INTO devices (id, site_id, name, mode, serial, cert_expires_at, enrolled_at)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
  [Q_DEVICE_LIST] = "SELECT " DEVICE_COLS " FROM devices WHERE site_id = ?1 ORDER BY name, id",
  [Q_DEVICE_GET] = "SELECT " DEVICE_COLS " FROM devices WHERE id = ?1",
  [Q_DEVICE_BY_SERIAL] = "SELECT " DEVICE_COLS " FROM devices WHERE serial = ?1",
  [Q_DEVICE_REVOKE] = "UPDATE devices SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
  [Q_DEVICE_REVOKED_SERIALS] = "SELECT serial FROM devices WHERE revoked_at IS NOT NULL",
  [Q_DEVICE_SEEN] = "UPDATE devices SET last_seen_at = ?2, clock_offset_ms = ?3, queue_length = ?4"
                    " WHERE id = ?1",
  [Q_DEVICE_RENEW] = "UPDATE devices SET serial = ?3, cert_expires_at = ?4"
                     " WHERE id = ?1 AND serial = ?2 AND revoked_at IS NULL",
  [Q_SETTING_PUT] = "INSERT INTO device_settings (device_id, key, value) VALUES (?1, ?2, ?3)"
                    " ON CONFLICT (device_id, key) DO UPDATE SET value = excluded.value",
  [Q_SETTING_DELETE] = "DELETE FROM device_settings WHERE device_id = ?1 AND key = ?2",
  [Q_SETTINGS_GET] = "SELECT key, value FROM device_settings WHERE device_id = ?1 ORDER BY key",
  [Q_DEVICE_CONFIG_BUMP] = "UPDATE devices SET config_version = config_version + 1 WHERE id = ?1"
                           " RETURNING config_version",
  [Q_DEVICE_SET_MODE] = "UPDATE devices SET mode = ?2 WHERE id = ?1",
  [Q_DEVICE_CONFIG_RUNNING] = "UPDATE devices SET running_config_version = ?2 WHERE id = ?1",
  [Q_EVENT_GET] = "SELECT ticket_id, kind, conflict, outcome, device_id, reason FROM events WHERE id = ?1",
  [Q_EVENT_ADD] = "INSERT INTO events (id, device_id, site_id, kind, ticket_id, device_time, server_time,"
                  " offline, reason, conflict, outcome, visit_id)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
  [Q_EVENT_SET_CONFLICT] = "UPDATE events SET conflict = 1 WHERE id = ?1",
  [Q_REDEMPTION_CLAIM] = "INSERT INTO redemptions (ticket_id, site_id, device_id, event_id, redeemed_at, seq)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (ticket_id) DO NOTHING",
  [Q_REDEMPTION_GET] = "SELECT r.event_id, r.device_id, r.redeemed_at, d.name, e.device_time"
                       " FROM redemptions r"
                       " LEFT JOIN devices d ON d.id = r.device_id"
                       " LEFT JOIN events e ON e.id = r.event_id"
                       " WHERE r.ticket_id = ?1",
  [Q_REDEMPTION_MOVE] = "UPDATE redemptions SET device_id = ?2, event_id = ?3, redeemed_at = ?4, seq = ?5"
                        " WHERE ticket_id = ?1",
  [Q_ALERT_ADD] = "INSERT INTO alerts (site_id, kind, ticket_id, event_id, first_event_id, device_id,"
                  " first_device_id, created_at)"
                  " VALUES (?1, 'double-entry', ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (event_id) DO NOTHING",
  [Q_CHECKIN_LIST] = "SELECT e.id, e.kind, e.device_id, e.ticket_id, coalesce(t.visitor_name, v.visitor_name),"
                     " e.device_time, e.server_time, e.offline, e.conflict"
                     " FROM events e LEFT JOIN tickets t ON t.id = e.ticket_id AND t.site_id = e.site_id"
                     " LEFT JOIN visits v ON v.checkin_event_id = e.id"
                     " WHERE e.site_id = ?1 AND e.kind IN ('checkin', 'checkout')"
                     " ORDER BY e.device_time DESC, e.server_time DESC, e.id DESC LIMIT ?2",
  [Q_ALERT_LIST] = "SELECT id, kind, ticket_id, event_id, first_event_id, device_id, first_device_id,"
                   " created_at FROM alerts WHERE site_id = ?1 ORDER BY created_at DESC, id DESC",
  /* One row shape for four tables: seq, type (SrvChangeType), then c2..c9 as
   * change_json() reads them per type. */
  [Q_CHANGES] = "SELECT seq, 0, id, valid_from, valid_until, flags, key_id, revoked, visitor_name, host_id,"
                "  code_hash"
                "  FROM tickets WHERE site_id = ?1 AND seq > ?2"
                " UNION ALL"
                " SELECT seq, 1, id, name, reading, department, removed_at IS NOT NULL, NULL, NULL, NULL, NULL"
                "  FROM hosts WHERE site_id = ?1 AND seq > ?2"
                " UNION ALL"
                " SELECT r.seq, 2, r.ticket_id, r.redeemed_at, r.device_id, d.name, NULL, NULL, NULL, NULL, NULL"
                "  FROM redemptions r LEFT JOIN devices d ON d.id = r.device_id"
                "  WHERE r.site_id = ?1 AND r.seq > ?2"
                " UNION ALL"
                " SELECT seq, 3, key_id, public_key, retired_at, NULL, NULL, NULL, NULL, NULL, NULL"
                "  FROM signing_keys WHERE seq > ?2"
                " ORDER BY 1 LIMIT ?3",
  /* Reception codes are unique among a site's live tickets (revoked or expired
   * ones may share a code with a new one: they no longer check anyone in). */
  [Q_CODE_IN_USE] = "SELECT 1 FROM tickets"
                    " WHERE site_id = ?1 AND code_hash = ?2 AND revoked = 0 AND valid_until >= ?3 LIMIT 1",
  [Q_CODE_FIND] = "SELECT id, flags, valid_from FROM tickets"
                  " WHERE site_id = ?1 AND code_hash = ?2 AND revoked = 0 AND valid_until >= ?3 LIMIT 1",
  [Q_CODE_WRONG_COUNT] = "SELECT count(*), min(server_time) FROM events"
                         " WHERE device_id = ?1 AND reason = 'bad-code' AND outcome = 'unknown'"
                         " AND server_time > ?2",
  [Q_VISIT_FROM_TICKET] = "INSERT INTO visits (id, site_id, device_id, kind, ticket_id, visitor_name, company,"
                          " purpose, host_id, checkin_event_id, checked_in_at, created_at)"
                          " SELECT ?1, site_id, ?2, 'ticket', id, visitor_name, company, purpose, host_id, ?3, ?4,"
                          " ?5 FROM tickets WHERE id = ?6 AND site_id = ?7"
                          " ON CONFLICT (id) DO NOTHING",
  [Q_VISIT_ADD] = "INSERT INTO visits (id, site_id, device_id, kind, visitor_name, company, purpose, host_id,"
                  " terms_accepted, checkin_event_id, checked_in_at, created_at)"
                  " VALUES (?1, ?2, ?3, 'walkin', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
  [Q_VISIT_CLOSE] = "UPDATE visits SET checked_out_at = ?3, checkout_event_id = ?4"
                    " WHERE id = ?1 AND site_id = ?2 AND checked_out_at IS NULL",
  [Q_VISIT_CLOSE_TICKET] = "UPDATE visits SET checked_out_at = ?3, checkout_event_id = ?4"
                           " WHERE id = (SELECT id FROM visits WHERE ticket_id = ?1 AND site_id = ?2"
                           "  AND checked_out_at IS NULL ORDER BY checked_in_at DESC, id DESC LIMIT 1)",
  [Q_VISIT_BY_EVENT] = "SELECT v.id, v.visitor_name, v.company, v.host_id, h.name"
                       " FROM visits v LEFT JOIN hosts h ON h.id = v.host_id AND h.site_id = v.site_id"
                       " WHERE v.checkin_event_id = ?1",
  [Q_VISIT_LIST] = VISIT_LIST_SQL(""),
  [Q_VISIT_LIST_PRESENT] = VISIT_LIST_SQL(" AND v.checked_out_at IS NULL"),
  [Q_VISIT_PHOTO_ADD] = "INSERT INTO visit_photos (visit_id, jpeg) VALUES (?1, ?2)",
  [Q_VISIT_PHOTO_GET] = "SELECT p.jpeg FROM visit_photos p JOIN visits v ON v.id = p.visit_id"
                        " WHERE v.id = ?1 AND v.site_id = ?2",
};

/* ---- connections and the pool ---------------------------------------------------- */

typedef struct {
  GkStore *gk;
  sqlite3 *db;
  sqlite3_stmt *stmt[N_QUERIES];  /* prepared on first use, kept until close */
  gboolean used[N_QUERIES];       /* touched since the connection was borrowed */
  int bind_rc;                    /* first failed sqlite3_bind_*, reported by step() */
} Conn;

typedef struct {
  GAsyncQueue *pool;  /* idle Conn */
  guint n_conns;
} Backend;

static void
conn_free(Conn *c)
{
  if (c == NULL)
    return;
  for (guint i = 0; i < N_QUERIES; i++)
    sqlite3_finalize(c->stmt[i]);
  gk_store_close(c->gk);
  g_free(c);
}

/* Blocks until a connection is idle: each call holds exactly one, so any number
 * of threads may call in without deadlock. */
static Conn *
conn_get(gpointer backend)
{
  Backend *b = backend;
  return g_async_queue_pop(b->pool);
}

static void
conn_put(gpointer backend, Conn *c)
{
  Backend *b = backend;
  /* Reset what we used: a statement left mid-result would pin a read snapshot
   * (and the caller's bound buffers) past this call. */
  for (guint i = 0; i < N_QUERIES; i++) {
    if (c->used[i]) {
      sqlite3_reset(c->stmt[i]);
      sqlite3_clear_bindings(c->stmt[i]);
      c->used[i] = FALSE;
    }
  }
  c->bind_rc = SQLITE_OK;
  if (!sqlite3_get_autocommit(c->db)) {
    g_warning("srv-store: a connection came back inside a transaction; rolling back");
    gk_store_rollback(c->gk);
  }
  g_async_queue_push(b->pool, c);
}

GkStore *
srv_store_sqlite_borrow(gpointer backend, gpointer *out_conn)
{
  Conn *c = conn_get(backend);
  *out_conn = c;
  return c->gk;
}

void
srv_store_sqlite_give_back(gpointer backend, gpointer conn)
{
  conn_put(backend, conn);
}

/* ---- errors ------------------------------------------------------------------------ */

/* Turns a gk-store error into a SrvStoreError, prefixed with @what. */
static gboolean
fail_gk(GError *gk_error, const char *what, GError **error)
{
  int code = SRV_STORE_ERROR_FAILED;
  if (gk_error->domain == GK_STORE_ERROR && gk_error->code == GK_STORE_ERROR_EXISTS)
    code = SRV_STORE_ERROR_EXISTS;
  else if (gk_error->domain == GK_STORE_ERROR && gk_error->code == GK_STORE_ERROR_NOT_FOUND)
    code = SRV_STORE_ERROR_NOT_FOUND;
  g_set_error(error, SRV_STORE_ERROR, code, "%s: %s", what, gk_error->message);
  g_error_free(gk_error);
  return FALSE;
}

/* Turns SQLite result @rc into a SrvStoreError. Constraint messages name the
 * table and column, never the value (which may be a hash or a token). */
static gboolean
fail_db(Conn *c, int rc, const char *what, GError **error)
{
  int ext = sqlite3_extended_errcode(c->db);
  if ((rc & 0xff) == SQLITE_CONSTRAINT) {
    switch (ext) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS, "%s: it exists already (%s)", what,
                  sqlite3_errmsg(c->db));
      return FALSE;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND,
                  "%s: a site, host, account or device it refers to does not exist", what);
      return FALSE;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
      g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID, "%s: a value is not allowed (%s)", what,
                  sqlite3_errmsg(c->db));
      return FALSE;
    default:
      break;
    }
  }
  GError *gk_error = NULL;
  gk_store_set_error_from_db(c->gk, rc, &gk_error);
  if (gk_error == NULL)
    gk_error = g_error_new(GK_STORE_ERROR, GK_STORE_ERROR_SQL, "%s", sqlite3_errstr(rc));
  /* EXISTS / NOT_FOUND from gk-store mean something else here: keep FAILED. */
  g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_FAILED, "%s: %s", what, gk_error->message);
  g_error_free(gk_error);
  return FALSE;
}

static gboolean G_GNUC_PRINTF(3, 4)
fail(GError **error, int code, const char *format, ...)
{
  va_list args;
  va_start(args, format);
  GError *e = g_error_new_valist(SRV_STORE_ERROR, code, format, args);
  va_end(args);
  g_propagate_error(error, e);
  return FALSE;
}

/* ---- statement helpers ---------------------------------------------------------------- */

/* The cached statement @q, reset with no bindings; NULL with @error set when it
 * does not prepare. */
static sqlite3_stmt *
stmt(Conn *c, QueryId q, GError **error)
{
  sqlite3_stmt *s = c->stmt[q];
  if (s == NULL) {
    int rc = sqlite3_prepare_v3(c->db, query_sql[q], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(s);
      fail_db(c, rc, "cannot prepare a query", error);
      return NULL;
    }
    c->stmt[q] = s;
  } else {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
  c->used[q] = TRUE;
  c->bind_rc = SQLITE_OK;
  return s;
}

static void
note_bind(Conn *c, int rc)
{
  if (rc != SQLITE_OK && c->bind_rc == SQLITE_OK)
    c->bind_rc = rc;
}

static void
bind_int(Conn *c, sqlite3_stmt *s, int i, gint64 v)
{
  note_bind(c, sqlite3_bind_int64(s, i, v));
}

/* NULL binds SQL NULL. The buffers outlive the statement's use: conn_put()
 * clears every binding before the connection goes back to the pool. */
static void
bind_text(Conn *c, sqlite3_stmt *s, int i, const char *v)
{
  note_bind(c, v != NULL ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i));
}

static void
bind_blob(Conn *c, sqlite3_stmt *s, int i, const void *v, gsize len)
{
  if (v == NULL || len > G_MAXINT) {
    note_bind(c, v == NULL ? sqlite3_bind_null(s, i) : SQLITE_TOOBIG);
    return;
  }
  note_bind(c, sqlite3_bind_blob(s, i, v, (int) len, SQLITE_STATIC));
}

static void
bind_bytes(Conn *c, sqlite3_stmt *s, int i, GBytes *v)
{
  gsize len = 0;
  const void *data = g_bytes_get_data(v, &len);
  /* An empty GBytes may have no data pointer: bind an empty blob, not NULL. */
  if (len == 0)
    note_bind(c, sqlite3_bind_zeroblob(s, i, 0));
  else
    bind_blob(c, s, i, data, len);
}

/* 1: a row; 0: done; -1: failed, @error set. */
static int
step(Conn *c, sqlite3_stmt *s, const char *what, GError **error)
{
  if (c->bind_rc != SQLITE_OK) {
    fail(error, SRV_STORE_ERROR_FAILED, "%s: cannot bind a value (%s)", what, sqlite3_errstr(c->bind_rc));
    return -1;
  }
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    return 1;
  if (rc == SQLITE_DONE)
    return 0;
  fail_db(c, rc, what, error);
  return -1;
}

/* For INSERT/UPDATE/DELETE: runs to completion. */
static gboolean
step_done(Conn *c, sqlite3_stmt *s, const char *what, GError **error)
{
  int r = step(c, s, what, error);
  if (r == 1) {
    /* Only RETURNING statements give rows; drain them. */
    do
      r = step(c, s, what, error);
    while (r == 1);
  }
  return r == 0;
}

static char *
col_text(sqlite3_stmt *s, int i)
{
  return g_strdup((const char *) sqlite3_column_text(s, i));
}

static GBytes *
col_bytes(sqlite3_stmt *s, int i)
{
  int len = sqlite3_column_bytes(s, i);
  const void *data = sqlite3_column_blob(s, i);
  return g_bytes_new(len > 0 ? data : NULL, len > 0 ? (gsize) len : 0);
}

/* Copies a 16-byte id column; FALSE when the column is not one. */
static gboolean
col_id16(sqlite3_stmt *s, int i, guint8 out[16])
{
  const void *data = sqlite3_column_blob(s, i);
  if (data == NULL || sqlite3_column_bytes(s, i) != 16) {
    memset(out, 0, 16);
    return FALSE;
  }
  memcpy(out, data, 16);
  return TRUE;
}

/* Steps an UPDATE or DELETE that must touch exactly the row it names: a
 * database failure is @what's error, no row changed is NOT_FOUND with the
 * printf-style message that follows. */
static gboolean G_GNUC_PRINTF(5, 6)
step_one_row(Conn *c, sqlite3_stmt *s, const char *what, GError **error, const char *not_found, ...)
{
  if (!step_done(c, s, what, error))
    return FALSE;
  if (sqlite3_changes(c->db) > 0)
    return TRUE;
  va_list args;
  va_start(args, not_found);
  g_autofree char *message = g_strdup_vprintf(not_found, args);
  va_end(args);
  g_set_error_literal(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND, message);
  return FALSE;
}

static gboolean
tx_begin(Conn *c, GError **error)
{
  GError *e = NULL;
  if (!gk_store_begin(c->gk, &e))
    return fail_gk(e, "cannot start a transaction", error);
  return TRUE;
}

static gboolean
tx_commit(Conn *c, const char *what, GError **error)
{
  GError *e = NULL;
  if (!gk_store_commit(c->gk, &e)) {
    gk_store_rollback(c->gk);
    return fail_gk(e, what, error);
  }
  return TRUE;
}

/* The next change-feed number; only inside a write transaction. */
static gboolean
next_seq(Conn *c, gint64 *out, GError **error)
{
  sqlite3_stmt *s = stmt(c, Q_SEQ_NEXT, error);
  if (s == NULL)
    return FALSE;
  int r = step(c, s, "cannot take a change number", error);
  if (r < 0)
    return FALSE;
  if (r == 0)
    return fail(error, SRV_STORE_ERROR_FAILED, "cannot take a change number: the counter row is missing");
  *out = sqlite3_column_int64(s, 0);
  sqlite3_reset(s);
  return TRUE;
}

static gboolean
check_text(const char *value, const char *what, GError **error)
{
  if (value == NULL || value[0] == '\0')
    return fail(error, SRV_STORE_ERROR_INVALID, "%s must not be empty", what);
  if (!g_utf8_validate(value, -1, NULL))
    return fail(error, SRV_STORE_ERROR_INVALID, "%s is not valid UTF-8", what);
  return TRUE;
}

static gboolean
check_optional_text(const char *value, const char *what, GError **error)
{
  if (value != NULL && !g_utf8_validate(value, -1, NULL))
    return fail(error, SRV_STORE_ERROR_INVALID, "%s is not valid UTF-8", what);
  return TRUE;
}

static gboolean
check_one_of(const char *value, const char *const *allowed, const char *what, GError **error)
{
  if (value != NULL && g_strv_contains(allowed, value))
    return TRUE;
  g_autofree char *list = g_strjoinv(", ", (char **) allowed);
  return fail(error, SRV_STORE_ERROR_INVALID, "%s must be one of %s", what, list);
}

static const char *const roles[] = { "owner", "admin", "receptionist", "security", "auditor", NULL };
static const char *const modes[] = { "reception", "gate", NULL };
static const char *const event_kinds[] = {
  [SRV_EVENT_CHECKIN] = "checkin",
  [SRV_EVENT_CHECKOUT] = "checkout",
  [SRV_EVENT_SCAN_REJECTED] = "scan-rejected",
  [SRV_EVENT_AUDIT] = "audit",
  /* The events table knows no walk-in kind: a check-in without a ticket, with a visit. */
  [SRV_EVENT_WALKIN] = "checkin",
};
static const char *const outcomes[] = {
  [SRV_REDEEM_ACCEPTED] = "accepted",
  [SRV_REDEEM_ALREADY_USED] = "already-used",
  [SRV_REDEEM_REVOKED] = "revoked",
  [SRV_REDEEM_UNKNOWN] = "unknown",
};

static int
index_of(const char *const *names, guint n, const char *value)
{
  for (guint i = 0; value != NULL && i < n; i++)
    if (g_str_equal(names[i], value))
      return (int) i;
  return -1;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static gboolean
sq_create(const char *db_path, const char *kek_path, GError **error)
{
  GError *e = NULL;
  if (kek_path == NULL)
    return fail(error, SRV_STORE_ERROR_INVALID, "the SQLite store needs a key-encryption key file");
  if (!gk_store_create(db_path, kek_path, &e))
    return fail_gk(e, "cannot create the store", error);
  GkStore *gk = gk_store_open(db_path, kek_path, migrations, G_N_ELEMENTS(migrations), &e);
  if (gk == NULL)
    return fail_gk(e, "cannot set up the new store", error);
  gk_store_close(gk);
  return TRUE;
}

static void
sq_close(gpointer backend)
{
  Backend *b = backend;
  if (b == NULL)
    return;
  /* Taking every connection back waits for calls still running. */
  for (guint i = 0; i < b->n_conns; i++)
    conn_free(g_async_queue_pop(b->pool));
  g_async_queue_unref(b->pool);
  g_free(b);
}

static gpointer
sq_open(const char *db_path, const char *kek_path, guint connections, GError **error)
{
  if (kek_path == NULL) {
    fail(error, SRV_STORE_ERROR_INVALID, "the SQLite store needs a key-encryption key file");
    return NULL;
  }
  Backend *b = g_new0(Backend, 1);
  b->pool = g_async_queue_new();
  /* The first open runs pending migrations; the others find them done. */
  for (guint i = 0; i < connections; i++) {
    GError *e = NULL;
    GkStore *gk = gk_store_open(db_path, kek_path, migrations, G_N_ELEMENTS(migrations), &e);
    if (gk == NULL) {
      fail_gk(e, "cannot open the store", error);
      sq_close(b);
      return NULL;
    }
    Conn *c = g_new0(Conn, 1);
    c->gk = gk;
    c->db = gk_store_db(gk);
    g_async_queue_push(b->pool, c);
    b->n_conns++;
  }
  return b;
}

/* ---- sites and accounts ---------------------------------------------------------------- */

static gboolean
sq_site_add(gpointer backend, const char *name, gint64 now, gint64 *out_id, GError **error)
{
  const char *what = "cannot add the site";
  if (!check_text(name, "the site name", error))
    return FALSE;
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  sqlite3_stmt *s = stmt(c, Q_SITE_ADD, error);
  if (s == NULL)
    goto out;
  bind_text(c, s, 1, name);
  bind_int(c, s, 2, now);
  if (!step_done(c, s, what, error))
    goto out;
  if (out_id != NULL)
    *out_id = sqlite3_last_insert_rowid(c->db);
  ok = TRUE;
out:
  conn_put(backend, c);
  return ok;
}

static gboolean
sq_site_default(gpointer backend, gint64 *out_id, char **out_name, GError **error)
{
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  sqlite3_stmt *s = stmt(c, Q_SITE_DEFAULT, error);
  if (s == NULL)
    goto out;
  int r = step(c, s, "cannot read the sites", error);
  if (r < 0)
    goto out;
  if (r == 0) {
    fail(error, SRV_STORE_ERROR_NOT_FOUND, "there is no site yet");
    goto out;
  }
  if (out_id != NULL)
    *out_id = sqlite3_column_int64(s, 0);
  if (out_name != NULL)
    *out_name = col_text(s, 1);
  ok = TRUE;
out:
  conn_put(backend, c);
  return ok;
}

static gboolean
sq_account_add(gpointer backend, const char *username, const char *password_hash, const char *role,
               gboolean must_change_password, gint64 now, gint64 *out_id, GError **error)
{
  const char *what = "cannot add the account";
  if (!check_text(username, "the user name", error) || !check_text(password_hash, "the password hash", error) ||
      !check_one_of(role, roles, "the role", error))
    return FALSE;
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  sqlite3_stmt *s = stmt(c, Q_ACCOUNT_ADD, error);
  if (s == NULL)
    goto out;
  bind_text(c, s, 1, username);
  bind_text(c, s, 2, password_hash);
  bind_text(c, s, 3, role);
  bind_int(c, s, 4, must_change_password ? 1 : 0);
  bind_int(c, s, 5, now);
  if (!step_done(c, s, what, error))
    goto out;
  if (out_id != NULL)
    *out_id = sqlite3_last_insert_rowid(c->db);
  ok = TRUE;
out:
  conn_put(backend, c);
  return ok;
}

static gboolean
read_account(Conn *c, sqlite3_stmt *s, SrvAccount *out, GError **error)
{
  int r = step(c, s, "cannot read the account", error);
  if (r < 0)
    return FALSE;
  if (r == 0)
    return fail(error, SRV_STORE_ERROR_NOT_FOUND, "no such account");
  out->id = sqlite3_column_int64(s, 0);
  out->username = col_text(s, 1);
  out->password_hash = col_text(s, 2);
  out->role = col_text(s, 3);
  out->must_change_password = sqlite3_column_int(s, 4) != 0;
  return TRUE;
}

static gboolean
sq_account_get(gpointer backend, const char *username, SrvAccount *out, GError **error)
{
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  sqlite3_stmt *s = stmt(c, Q_ACCOUNT_GET, error);
  if (s == NULL)
    goto out;
  bind_text(c, s, 1, username);
  ok = read_account(c, s, out, error);
out:
  conn_put(backend, c);
  return ok;
}

static gboolean
sq_account_get_by_id(gpointer backend, gint64 id, SrvAccount *out, GError **error)
{
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  sqlite3_stmt *s = stmt(c, Q_ACCOUNT_GET_BY_ID, error);
  if (s == NULL)
    goto out;
  bind_int(c, s, 1, id);
  ok = read_account(c, s, out, error);
out:
  conn_put(backend, c);
  return ok;
}

static gboolean
sq_account_set_password(gpointer backend, gint64 account_id, const char *password_hash, GError **error)
{
  const char *what = "cannot change the password";
  if (!check_text(password_hash, "the password hash", error))
    return FALSE;
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  sqlite3_stmt *s;
  if (!tx_begin(c, error))
    goto out;
  s = stmt(c, Q_ACCOUNT_SET_PASSWORD, error);
  if (s == NULL)
    goto out;
  bind_int(c, s, 1, account_id);
  bind_text(c, s, 2, password_hash);
  if (!step_one_row(c, s, what, error, "%s: no such account", what))
    goto out;
  /* A new password ends every session, including a thief's. */
  s = stmt(c, Q_ACCOUNT_END_SESSIONS, error);
  if (s == NULL)
    goto out;
  bind_int(c, s, 1, account_id);
  if (!step_done(c, s, what, error) || !tx_commit(c, what, error))
    goto out;
  ok = TRUE;
out:
  if (!ok)
    gk_store_rollback(c->gk);
  conn_put(backend, c);
  return ok;
}

/* ---- sessions -------------------------------------------------------------------------- */

static gboolean
sq_session_add(gpointer backend, const guint8 token_hash[32], gint64 account_id, const char *ip, gint64 now,
               GError **error)
{
  if (!check_optional_text(ip, "the address", error))
    return FALSE;
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  sqlite3_stmt *s = stmt(c, Q_SESSION_ADD, error);
  if (s == NULL)
    goto out;
  bind_blob(c, s, 1, token_hash, 32);
  bind_int(c, s, 2, account_id);
  bind_int(c, s, 3, now);
  bind_text(c, s, 4, ip);
  ok = step_done(c, s, "cannot add the session", error);
out:
  conn_put(backend, c);
  return ok;
}

static gboolean
sq_session_touch(gpointer backend, const guint8 token_hash[32], gint64 now, gint64 max_age, gint64 max_idle,
                 gint64 *out_account_id, GError **error)
{
  const char *what = "cannot check the session";
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  sqlite3_stmt *s;
  if (!tx_begin(c, error))
    goto out;
  s = stmt(c, Q_SESSION_GET, error);
  if (s == NULL)
    goto out;
  bind_blob(c, s, 1, token_hash, 32);
  int r = step(c, s, what, error);
  if (r < 0)
    goto out;
  if (r == 0) {
    fail(error, SRV_STORE_ERROR_NOT_FOUND, "no such session");
    goto out;
  }
  gint64 account_id = sqlite3_column_int64(s, 0);
  gint64 created_at = sqlite3_column_int64(s, 1);
  gint64 last_used_at = sqlite3_column_int64(s, 2);
  sqlite3_reset(s);
  /* Subtractions, not additions: a huge max_age must not overflow. */
  gboolean too_old = now - created_at >= max_age;
  gboolean too_idle = now - last_used_at >= max_idle;
  s = stmt(c, (too_old || too_idle) ? Q_SESSION_DELETE : Q_SESSION_TOUCH, error);
  if (s == NULL)
    goto out;
  bind_blob(c, s, 1, token_hash, 32);
  if (!too_old && !too_idle)
    bind_int(c, s, 2, now);
  if (!step_done(c, s, what, error) || !tx_commit(c, what, error))
    goto out;
  if (too_old || too_idle) {
    fail(error, SRV_STORE_ERROR_NOT_FOUND, "the session has expired");
    goto out;
  }
  if (out_account_id != NULL)
    *out_account_id = account_id;
  ok = TRUE;
out:
  gk_store_rollback(c->gk);
  conn_put(backend, c);
  return ok;
}

static gboolean
sq_session_delete(gpointer backend, const guint8 token_hash[32], GError **error)
{
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  sqlite3_stmt *s = stmt(c, Q_SESSION_DELETE, error);
  if (s == NULL)
    goto out;
  bind_blob(c, s, 1, token_hash, 32);
  if (!step_one_row(c, s, "cannot end the session", error, "no such session"))
    goto out;
  ok = TRUE;
out:
  conn_put(backend, c);
  return ok;
}

/* ---- lists ------------------------------------------------------------------------------ */

typedef void (*RowReader)(sqlite3_stmt *s, gpointer element);

/* Runs a list query bound to (site_id[, limit]) and reads each row into a new
 * element of a GArray that clears its elements with @clear. */
static GArray *
list_rows(gpointer backend, QueryId q, gint64 site_id, gint64 limit, gsize element_size, GDestroyNotify clear,
          RowReader read_row, const char *what, GError **error)
{
  Conn *c = conn_get(backend);
  GArray *list = g_array_new(FALSE, TRUE, (guint) element_size);
  g_array_set_clear_func(list, clear);
  sqlite3_stmt *s = stmt(c, q, error);
  int r = -1;
  if (s != NULL) {
    bind_int(c, s, 1, site_id);
    if (limit >= 0)
      bind_int(c, s, 2, limit);
    while ((r = step(c, s, what, error)) == 1) {
      g_array_set_size(list, list->len + 1);
      read_row(s, &g_array_index(list, guint8, (list->len - 1) * element_size));
    }
  }
  conn_put(backend, c);
  if (r < 0)
    g_clear_pointer(&list, g_array_unref);
  return list;
}

/* ---- hosts ------------------------------------------------------------------------------ */

static void
read_host(sqlite3_stmt *s, SrvHost *out)
{
  out->id = sqlite3_column_int64(s, 0);
  out->site_id = sqlite3_column_int64(s, 1);
  out->name = col_text(s, 2);
  out->reading = col_text(s, 3);
  out->email = col_text(s, 4);
  out->department = col_text(s, 5);
}

static gboolean
sq_host_add(gpointer backend, const SrvHost *host, gint64 now, gint64 *out_id, GError **error)
{
  const char *what = "cannot add the host";
  if (!check_text(host->name, "the host's name", error) ||
      !check_optional_text(host->reading, "the host's reading", error) ||
      !check_optional_text(host->email, "the host's e-mail", error) ||
      !check_optional_text(host->department, "the host's department", error))
    return FALSE;
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  gint64 seq = 0;
  sqlite3_stmt *s;
  if (!tx_begin(c, error) || !next_seq(c, &seq, error))
    goto out;
  s = stmt(c, Q_HOST_ADD, error);
  if (s == NULL)
    goto out;
  bind_int(c, s, 1, host->site_id);
  bind_text(c, s, 2, host->name);
  bind_text(c, s, 3, host->reading);
  bind_text(c, s, 4, host->email);
  bind_text(c, s, 5, host->department);
  bind_int(c, s, 6, now);
  bind_int(c, s, 7, seq);
  if (!step_done(c, s, what, error))
    goto out;
  gint64 id = sqlite3_last_insert_rowid(c->db);
  if (!tx_commit(c, what, error))
    goto out;
  if (out_id != NULL)
    *out_id = id;
  ok = TRUE;
out:
  if (!ok)
    gk_store_rollback(c->gk);
  conn_put(backend, c);
  return ok;
}

static void
read_host_row(sqlite3_stmt *s, gpointer element)
{
  read_host(s, element);
}

static GArray *
sq_host_list(gpointer backend, gint64 site_id, GError **error)
{
  return list_rows(backend, Q_HOST_LIST, site_id, -1, sizeof(SrvHost), (GDestroyNotify) srv_host_clear,
                   read_host_row, "cannot list the hosts", error);
}

static gboolean
sq_host_find(gpointer backend, gint64 site_id, const char *id_or_name, SrvHost *out, GError **error)
{
  const char *what = "cannot look up the host";
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  sqlite3_stmt *s;
  int r;
  guint64 id = 0;
  /* Digits are an id first; a host literally named "42" is still found by name
   * when no host has id 42. */
  if (g_ascii_string_to_unsigned(id_or_name, 10, 1, G_MAXINT64, &id, NULL)) {
    s = stmt(c, Q_HOST_BY_ID, error);
    if (s == NULL)
      goto out;
    bind_int(c, s, 1, site_id);
    bind_int(c, s, 2, (gint64) id);
    r = step(c, s, what, error);
    if (r < 0)
      goto out;
    if (r == 1) {
      read_host(s, out);
      ok = TRUE;
      goto out;
    }
  }
  s = stmt(c, Q_HOST_BY_NAME, error);
  if (s == NULL)
    goto out;
  bind_int(c, s, 1, site_id);
  bind_text(c, s, 2, id_or_name);
  r = step(c, s, what, error);
  if (r < 0)
    goto out;
  if (r == 0) {
    fail(error, SRV_STORE_ERROR_NOT_FOUND, "no host “%s” on this site", id_or_name);
    goto out;
  }
  SrvHost h = { 0 };
  read_host(s, &h);
  r = step(c, s, what, error);
  if (r != 0) {
    srv_host_clear(&h);
    if (r > 0)
      fail(error, SRV_STORE_ERROR_EXISTS, "several hosts are named “%s”: give the id instead", id_or_name);
    goto out;
  }
  *out = h;
  ok = TRUE;
out:
  conn_put(backend, c);
  return ok;
}

/* ---- tickets and keys ---------------------------------------------------------------------- */

static gboolean
sq_ticket_add(gpointer backend, const SrvTicket *t, GError **error)
{
  const char *what = "cannot add the ticket";
  if (!check_text(t->visitor_name, "the visitor's name", error) ||
      !check_optional_text(t->company, "the visitor's company", error) ||
      !check_optional_text(t->purpose, "the visit's purpose", error) ||
      !check_optional_text(t->labels, "the labels", error) ||
      !check_text(t->text, "the ticket text", error))
    return FALSE;
  if (t->valid_until < t->valid_from)
    return fail(error, SRV_STORE_ERROR_INVALID, "%s: it ends before it starts", what);
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  gint64 seq = 0;
  sqlite3_stmt *s;
  if (!tx_begin(c, error) || !next_seq(c, &seq, error))
    goto out;
  if (t->has_code) {
    /* Checked under the write lock: no other issue can take the code meanwhile. */
    s = stmt(c, Q_CODE_IN_USE, error);
    if (s == NULL)
      goto out;
    bind_int(c, s, 1, t->site_id);
    bind_blob(c, s, 2, t->code_hash, 32);
    bind_int(c, s, 3, t->created_at);
    int r = step(c, s, what, error);
    if (r < 0)
      goto out;
    if (r == 1) {
      fail(error, SRV_STORE_ERROR_EXISTS, "%s: the reception code is in use", what);
      goto out;
    }
  }
  s = stmt(c, Q_TICKET_ADD, error);
  if (s == NULL)
    goto out;
  bind_blob(c, s, 1, t->id, 16);
  bind_int(c, s, 2, t->site_id);
  if (t->host_id != 0)
    bind_int(c, s, 3, t->host_id);
  bind_text(c, s, 4, t->visitor_name);
  bind_text(c, s, 5, t->company);
  bind_int(c, s, 6, t->valid_from);
  bind_int(c, s, 7, t->valid_until);
  bind_int(c, s, 8, t->flags);
  bind_int(c, s, 9, t->key_id);
  bind_text(c, s, 10, t->text);
  bind_int(c, s, 11, t->revoked ? 1 : 0);
  bind_int(c, s, 12, t->created_at);
  bind_text(c, s, 13, t->purpose);
  bind_text(c, s, 14, t->labels);
  bind_blob(c, s, 15, t->has_code ? t->code_hash : NULL, 32);
  bind_int(c, s, 16, seq);
  if (!step_done(c, s, what, error) ||
      (t->invitation != NULL &&
       !srv_outbox_sqlite_queue_invitation(c->gk, t->id, t->invitation, t->created_at, error)) ||
      !tx_commit(c, what, error))
    goto out;
  ok = TRUE;
out:
  if (!ok)
    gk_store_rollback(c->gk);
  conn_put(backend, c);
  return ok;
}

static gboolean
sq_ticket_get(gpointer backend, const guint8 id[16], SrvTicket *out, GError **error)
{
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  sqlite3_stmt *s = stmt(c, Q_TICKET_GET, error);
  if (s == NULL)
    goto out;
  bind_blob(c, s, 1, id, 16);
  int r = step(c, s, "cannot read the ticket", error);
  if (r < 0)
    goto out;
  if (r == 0) {
    fail(error, SRV_STORE_ERROR_NOT_FOUND, "no such ticket");
    goto out;
  }
  SrvTicket t = { 0 };
  col_id16(s, 0, t.id);
  t.site_id = sqlite3_column_int64(s, 1);
  t.host_id = sqlite3_column_int64(s, 2);  /* NULL reads as 0: none */
  t.visitor_name = col_text(s, 3);
  t.company = col_text(s, 4);
  t.valid_from = sqlite3_column_int64(s, 5);
  t.valid_until = sqlite3_column_int64(s, 6);
  t.flags = (guint) sqlite3_column_int64(s, 7);
  t.key_id = (guint) sqlite3_column_int64(s, 8);
  t.text = col_text(s, 9);
  t.revoked = sqlite3_column_int(s, 10) != 0;
  t.created_at = sqlite3_column_int64(s, 11);
  t.purpose = col_text(s, 12);
  t.labels = col_text(s, 13);
  if (sqlite3_column_bytes(s, 14) == 32) {
    t.has_code = TRUE;
    memcpy(t.code_hash, sqlite3_column_blob(s, 14), 32);
  }
  *out = t;
  ok = TRUE;
out:
  conn_put(backend, c);
  return ok;
}

/* Idempotent: revoking a revoked ticket changes nothing (and bumps no seq). */
static gboolean
sq_ticket_revoke(gpointer backend, const guint8 id[16], GError **error)
{
  const char *what = "cannot revoke the ticket";
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  gint64 seq = 0;
  sqlite3_stmt *s;
  if (!tx_begin(c, error) || !next_seq(c, &seq, error))
    goto out;
  s = stmt(c, Q_TICKET_REVOKE, error);
  if (s == NULL)
    goto out;
  bind_blob(c, s, 1, id, 16);
  bind_int(c, s, 2, seq);
  if (!step_done(c, s, what, error))
    goto out;
  if (sqlite3_changes(c->db) == 0) {
    s = stmt(c, Q_TICKET_EXISTS, error);
    if (s == NULL)
      goto out;
    bind_blob(c, s, 1, id, 16);
    int r = step(c, s, what, error);
    if (r < 0)
      goto out;
    if (r == 0) {
      fail(error, SRV_STORE_ERROR_NOT_FOUND, "%s: no such ticket", what);
      goto out;
    }
  }
  if (!tx_commit(c, what, error))
    goto out;
  ok = TRUE;
out:
  if (!ok)
    gk_store_rollback(c->gk);
  conn_put(backend, c);
  return ok;
}

static gboolean
sq_signing_key_add(gpointer backend, guint key_id, const guint8 public_key[32], gint64 now, GError **error)
{
  const char *what = "cannot add the signing key";
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  gint64 seq = 0;
  sqlite3_stmt *s;
  if (!tx_begin(c, error) || !next_seq(c, &seq, error))
    goto out;
  s = stmt(c, Q_KEY_ADD, error);
  if (s == NULL)
    goto out;
  bind_int(c, s, 1, key_id);
  bind_blob(c, s, 2, public_key, 32);
  bind_int(c, s, 3, now);
  bind_int(c, s, 4, seq);
  if (!step_done(c, s, what, error) || !tx_commit(c, what, error))
    goto out;
  ok = TRUE;
out:
  if (!ok)
    gk_store_rollback(c->gk);
  conn_put(backend, c);
  return ok;
}

/* ---- devices and enrollment ------------------------------------------------------------------ */

static void
read_device(sqlite3_stmt *s, SrvDevice *out)
{
  out->id = col_text(s, 0);
  out->site_id = sqlite3_column_int64(s, 1);
  out->name = col_text(s, 2);
  out->mode = col_text(s, 3);
  out->serial = col_bytes(s, 4);
  out->cert_expires_at = sqlite3_column_int64(s, 5);
  out->enrolled_at = sqlite3_column_int64(s, 6);
  out->revoked_at = sqlite3_column_int64(s, 7);   /* NULL reads as 0 */
  out->last_seen_at = sqlite3_column_int64(s, 8);
  out->clock_offset_ms = sqlite3_column_int64(s, 9);
  out->queue_length = sqlite3_column_int64(s, 10);
  out->config_version = sqlite3_column_int64(s, 11);
  out->running_config_version = sqlite3_column_int64(s, 12);
}

/* Reads one device by id into @out (when not NULL); on @c, inside or outside a
 * transaction. */
static gboolean
get_device(Conn *c, const char *device_id, SrvDevice *out, GError **error)
{
  sqlite3_stmt *s = stmt(c, Q_DEVICE_GET, error);
  if (s == NULL)
    return FALSE;
  bind_text(c, s, 1, device_id);
  int r = step(c, s, "cannot read the device", error);
  if (r < 0)
    return FALSE;
  if (r == 0)
    return fail(error, SRV_STORE_ERROR_NOT_FOUND, "no device “%s”", device_id);
  if (out != NULL)
    read_device(s, out);
  sqlite3_reset(s);
  return TRUE;
}

static gboolean
sq_enroll_code_add(gpointer backend, const guint8 token_hash[32], gint64 site_id, const char *name,
                   const char *mode, gint64 now, gint64 expires_at, GError **error)
{
  if (!check_text(name, "the device name", error) || !check_one_of(mode, modes, "the device mode", error))
    return FALSE;
  if (expires_at <= now)
    return fail(error, SRV_STORE_ERROR_INVALID, "an enrollment code must expire in the future");
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  sqlite3_stmt *s = stmt(c, Q_ENROLL_ADD, error);
  if (s == NULL)
    goto out;
  bind_blob(c, s, 1, token_hash, 32);
  bind_int(c, s, 2, site_id);
  bind_text(c, s, 3, name);
  bind_text(c, s, 4, mode);
  bind_int(c, s, 5, now);
  bind_int(c, s, 6, expires_at);
  ok = step_done(c, s, "cannot add the enrollment code", error);
out:
  conn_put(backend, c);
  return ok;
}

static gboolean
sq_enroll_code_redeem(gpointer backend, const guint8 token_hash[32], gint64 now, const char *device_id,
                      GBytes *serial, gint64 cert_expires_at, SrvDevice *out, GError **error)
{
  const char *what = "cannot enroll the device";
  if (!check_text(device_id, "the device id", error))
    return FALSE;
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  g_autofree char *name = NULL;
  g_autofree char *mode = NULL;
  sqlite3_stmt *s;
  int r;
  if (!tx_begin(c, error))
    goto out;
  /* The claim is one conditional update: of two racing enrollments with one
   * code, exactly one changes the row. */
  s = stmt(c, Q_ENROLL_CLAIM, error);
  if (s == NULL)
    goto out;
  bind_blob(c, s, 1, token_hash, 32);
  bind_int(c, s, 2, now);
  bind_text(c, s, 3, device_id);
  if (!step_done(c, s, what, error))
    goto out;
  gboolean claimed = sqlite3_changes(c->db) == 1;
  s = stmt(c, Q_ENROLL_GET, error);
  if (s == NULL)
    goto out;
  bind_blob(c, s, 1, token_hash, 32);
  r = step(c, s, what, error);
  if (r < 0)
    goto out;
  if (r == 0) {
    fail(error, SRV_STORE_ERROR_NOT_FOUND, "%s: unknown enrollment code", what);
    goto out;
  }
  if (!claimed) {
    fail(error, SRV_STORE_ERROR_USED, "%s: the enrollment code was used already or has expired", what);
    goto out;
  }
  gint64 site_id = sqlite3_column_int64(s, 0);
  name = col_text(s, 1);
  mode = col_text(s, 2);
  sqlite3_reset(s);
  s = stmt(c, Q_DEVICE_ADD, error);
  if (s == NULL)
    goto out;
  bind_text(c, s, 1, device_id);
  bind_int(c, s, 2, site_id);
  bind_text(c, s, 3, name);
  bind_text(c, s, 4, mode);
  bind_bytes(c, s, 5, serial);
  bind_int(c, s, 6, cert_expires_at);
  bind_int(c, s, 7, now);
  if (!step_done(c, s, what, error))
    goto out;
  SrvDevice d = { 0 };
  if (!get_device(c, device_id, out != NULL ? &d : NULL, error))
    goto out;
  if (!tx_commit(c, what, error)) {
    srv_device_clear(&d);
    goto out;
  }
  if (out != NULL)
    *out = d;
  ok = TRUE;
out:
  if (!ok)
    gk_store_rollback(c->gk);
  conn_put(backend, c);
  return ok;
}

static void
read_device_row(sqlite3_stmt *s, gpointer element)
{
  read_device(s, element);
}

static GArray *
sq_device_list(gpointer backend, gint64 site_id, GError **error)
{
  return list_rows(backend, Q_DEVICE_LIST, site_id, -1, sizeof(SrvDevice), (GDestroyNotify) srv_device_clear,
                   read_device_row, "cannot list the devices", error);
}

static gboolean
sq_device_get(gpointer backend, const char *device_id, SrvDevice *out, GError **error)
{
  Conn *c = conn_get(backend);
  gboolean ok = get_device(c, device_id, out, error);
  conn_put(backend, c);
  return ok;
}

static gboolean
sq_device_by_serial(gpointer backend, GBytes *serial, SrvDevice *out, GError **error)
{
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  sqlite3_stmt *s = stmt(c, Q_DEVICE_BY_SERIAL, error);
  if (s == NULL)
    goto out;
  bind_bytes(c, s, 1, serial);
  int r = step(c, s, "cannot look up the device", error);
  if (r < 0)
    goto out;
  if (r == 0) {
    fail(error, SRV_STORE_ERROR_NOT_FOUND, "no device has that certificate serial");
    goto out;
  }
  read_device(s, out);
  ok = TRUE;
out:
  conn_put(backend, c);
  return ok;
}

static gboolean
sq_device_revoke(gpointer backend, const char *device_id, gint64 now, SrvDevice *out, GError **error)
{
  const char *what = "cannot revoke the device";
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  SrvDevice d = { 0 };
  sqlite3_stmt *s;
  if (!tx_begin(c, error))
    goto out;
  s = stmt(c, Q_DEVICE_REVOKE, error);
  if (s == NULL)
    goto out;
  bind_text(c, s, 1, device_id);
  bind_int(c, s, 2, now);
  if (!step_one_row(c, s, what, error, "%s: no device “%s”", what, device_id))
    goto out;
  if (!get_device(c, device_id, out != NULL ? &d : NULL, error) || !tx_commit(c, what, error))
    goto out;
  if (out != NULL) {
    *out = d;
    memset(&d, 0, sizeof d);
  }
  ok = TRUE;
out:
  srv_device_clear(&d);
  if (!ok)
    gk_store_rollback(c->gk);
  conn_put(backend, c);
  return ok;
}

/* A GPtrArray of GBytes (free func set). */
static GPtrArray *
sq_revoked_serials(gpointer backend, GError **error)
{
  Conn *c = conn_get(backend);
  GPtrArray *list = g_ptr_array_new_with_free_func((GDestroyNotify) g_bytes_unref);
  sqlite3_stmt *s = stmt(c, Q_DEVICE_REVOKED_SERIALS, error);
  int r = -1;
  if (s == NULL)
    goto out;
  while ((r = step(c, s, "cannot list revoked devices", error)) == 1)
    g_ptr_array_add(list, col_bytes(s, 0));
out:
  conn_put(backend, c);
  if (r < 0)
    g_clear_pointer(&list, g_ptr_array_unref);
  return list;
}

static gboolean
sq_device_seen(gpointer backend, const char *device_id, gint64 now, gint64 clock_offset_ms,
               gint64 queue_length, GError **error)
{
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  sqlite3_stmt *s = stmt(c, Q_DEVICE_SEEN, error);
  if (s == NULL)
    goto out;
  bind_text(c, s, 1, device_id);
  bind_int(c, s, 2, now);
  bind_int(c, s, 3, clock_offset_ms);
  bind_int(c, s, 4, queue_length);
  if (!step_one_row(c, s, "cannot record the device's visit", error, "no device “%s”", device_id))
    goto out;
  ok = TRUE;
out:
  conn_put(backend, c);
  return ok;
}

static gboolean
sq_device_renew(gpointer backend, const char *device_id, GBytes *old_serial, GBytes *new_serial,
                gint64 cert_expires_at, GError **error)
{
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  sqlite3_stmt *s = stmt(c, Q_DEVICE_RENEW, error);
  if (s == NULL)
    goto out;
  bind_text(c, s, 1, device_id);
  bind_bytes(c, s, 2, old_serial);
  bind_bytes(c, s, 3, new_serial);
  bind_int(c, s, 4, cert_expires_at);
  if (!step_one_row(c, s, "cannot renew the device's certificate", error,
                    "no live device “%s” with that certificate", device_id))
    goto out;
  ok = TRUE;
out:
  conn_put(backend, c);
  return ok;
}

/* ---- remotely set device settings ------------------------------------------------------ */

static gboolean
sq_device_settings_set(gpointer backend, const char *device_id, const char *const *keys, const char *const *values,
                       guint n, gint64 *out_version, GError **error)
{
  const char *what = "cannot change the device's settings";
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  sqlite3_stmt *s;
  int r;
  if (!tx_begin(c, error))
    goto out;
  /* The version first: it also tells whether the device exists. */
  s = stmt(c, Q_DEVICE_CONFIG_BUMP, error);
  if (s == NULL)
    goto out;
  bind_text(c, s, 1, device_id);
  r = step(c, s, what, error);
  if (r < 0)
    goto out;
  if (r == 0) {
    fail(error, SRV_STORE_ERROR_NOT_FOUND, "no device “%s”", device_id);
    goto out;
  }
  gint64 version = sqlite3_column_int64(s, 0);
  sqlite3_reset(s);
  for (guint i = 0; i < n; i++) {
    gboolean remove = values[i] == NULL || values[i][0] == '\0';
    s = stmt(c, remove ? Q_SETTING_DELETE : Q_SETTING_PUT, error);
    if (s == NULL)
      goto out;
    bind_text(c, s, 1, device_id);
    bind_text(c, s, 2, keys[i]);
    if (!remove)
      bind_text(c, s, 3, values[i]);
    if (!step_done(c, s, what, error))
      goto out;
    /* The device row's mode is what lists and enrollment answers show. */
    if (!remove && strcmp(keys[i], "mode") == 0) {
      s = stmt(c, Q_DEVICE_SET_MODE, error);
      if (s == NULL)
        goto out;
      bind_text(c, s, 1, device_id);
      bind_text(c, s, 2, values[i]);
      if (!step_done(c, s, what, error))
        goto out;
    }
  }
  if (!tx_commit(c, what, error))
    goto out;
  if (out_version != NULL)
    *out_version = version;
  ok = TRUE;
out:
  if (!ok)
    gk_store_rollback(c->gk);
  conn_put(backend, c);
  return ok;
}

static GHashTable *
sq_device_settings_get(gpointer backend, const char *device_id, GError **error)
{
  Conn *c = conn_get(backend);
  GHashTable *settings = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  sqlite3_stmt *s = stmt(c, Q_SETTINGS_GET, error);
  int r = -1;
  if (s != NULL) {
    bind_text(c, s, 1, device_id);
    while ((r = step(c, s, "cannot read the device's settings", error)) == 1)
      g_hash_table_insert(settings, col_text(s, 0), col_text(s, 1));
  }
  conn_put(backend, c);
  if (r < 0)
    g_clear_pointer(&settings, g_hash_table_unref);
  return settings;
}

static gboolean
sq_device_config_running(gpointer backend, const char *device_id, gint64 version, GError **error)
{
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  sqlite3_stmt *s = stmt(c, Q_DEVICE_CONFIG_RUNNING, error);
  if (s != NULL) {
    bind_text(c, s, 1, device_id);
    bind_int(c, s, 2, version);
    ok = step_one_row(c, s, "cannot record the device's settings version", error, "no device “%s”", device_id);
  }
  conn_put(backend, c);
  return ok;
}

/* ---- redemption, events, conflicts ----------------------------------------------------------- */

typedef struct {
  gboolean found;
  char *event_id;
  char *device_id;
  char *device_name;
  gint64 redeemed_at;
  gboolean has_event_time;
  gint64 event_time;
} FirstAdmission;

static void
first_admission_clear(FirstAdmission *f)
{
  g_free(f->event_id);
  g_free(f->device_id);
  g_free(f->device_name);
  memset(f, 0, sizeof *f);
}

static gboolean
get_first_admission(Conn *c, const guint8 ticket_id[16], FirstAdmission *out, GError **error)
{
  sqlite3_stmt *s = stmt(c, Q_REDEMPTION_GET, error);
  if (s == NULL)
    return FALSE;
  bind_blob(c, s, 1, ticket_id, 16);
  int r = step(c, s, "cannot read the redemption", error);
  if (r < 0)
    return FALSE;
  memset(out, 0, sizeof *out);
  if (r == 1) {
    out->found = TRUE;
    out->event_id = col_text(s, 0);
    out->device_id = col_text(s, 1);
    out->redeemed_at = sqlite3_column_int64(s, 2);
    out->device_name = col_text(s, 3);
    out->has_event_time = sqlite3_column_type(s, 4) != SQLITE_NULL;
    out->event_time = sqlite3_column_int64(s, 4);
  }
  sqlite3_reset(s);
  return TRUE;
}

static gboolean
fill_already_used(Conn *c, const guint8 ticket_id[16], SrvRedeemOutcome *out, GError **error)
{
  FirstAdmission first;
  if (!get_first_admission(c, ticket_id, &first, error))
    return FALSE;
  out->result = SRV_REDEEM_ALREADY_USED;
  if (first.found) {
    out->used_at = first.redeemed_at;
    out->used_by_device = g_steal_pointer(&first.device_id);
    out->used_by_name = g_steal_pointer(&first.device_name);
  }
  first_admission_clear(&first);
  return TRUE;
}

static gboolean
insert_event(Conn *c, const char *id, const char *device_id, gint64 site_id, const char *kind,
             const guint8 *ticket_id, gint64 device_time, gint64 now, gboolean offline, const char *reason,
             gboolean conflict, const char *outcome, const char *visit_id, GError **error)
{
  sqlite3_stmt *s = stmt(c, Q_EVENT_ADD, error);
  if (s == NULL)
    return FALSE;
  bind_text(c, s, 1, id);
  bind_text(c, s, 2, device_id);
  bind_int(c, s, 3, site_id);
  bind_text(c, s, 4, kind);
  bind_blob(c, s, 5, ticket_id, 16);  /* NULL ticket_id binds NULL */
  bind_int(c, s, 6, device_time);
  bind_int(c, s, 7, now);
  bind_int(c, s, 8, offline ? 1 : 0);
  bind_text(c, s, 9, reason);
  bind_int(c, s, 10, conflict ? 1 : 0);
  bind_text(c, s, 11, outcome);
  bind_text(c, s, 12, visit_id);
  return step_done(c, s, "cannot record the event", error);
}

/* Claims a one-time ticket for @event_id. *out_claimed is FALSE when another
 * event holds it already. */
static gboolean
claim_ticket(Conn *c, const guint8 ticket_id[16], gint64 site_id, const char *device_id, const char *event_id,
             gint64 at, gboolean *out_claimed, GError **error)
{
  gint64 seq = 0;
  if (!next_seq(c, &seq, error))
    return FALSE;
  sqlite3_stmt *s = stmt(c, Q_REDEMPTION_CLAIM, error);
  if (s == NULL)
    return FALSE;
  bind_blob(c, s, 1, ticket_id, 16);
  bind_int(c, s, 2, site_id);
  bind_text(c, s, 3, device_id);
  bind_text(c, s, 4, event_id);
  bind_int(c, s, 5, at);
  bind_int(c, s, 6, seq);
  if (!step_done(c, s, "cannot redeem the ticket", error))
    return FALSE;
  *out_claimed = sqlite3_changes(c->db) == 1;
  return TRUE;
}

/* 1: found (and *flags, *revoked set); 0: no such ticket on @site_id; -1: error. */
static int
ticket_of_site(Conn *c, const guint8 ticket_id[16], gint64 site_id, guint *flags, gboolean *revoked,
               GError **error)
{
  sqlite3_stmt *s = stmt(c, Q_TICKET_OF_SITE, error);
  if (s == NULL)
    return -1;
  bind_blob(c, s, 1, ticket_id, 16);
  bind_int(c, s, 2, site_id);
  int r = step(c, s, "cannot read the ticket", error);
  if (r == 1) {
    *flags = (guint) sqlite3_column_int64(s, 0);
    *revoked = sqlite3_column_int(s, 1) != 0;
    sqlite3_reset(s);
  }
  return r;
}

/* ---- visits (inside the event transactions) ---- */

/* Opens the visit of the check-in @event_id of a ticket of @site_id, with the
 * ticket's visitor data; nothing for a ticket of no such site. Every ticket
 * check-in (online, code, pushed) passes here: the place to hook a host
 * notification for invited visitors. */
static gboolean
open_ticket_visit(Conn *c, gint64 site_id, const char *device_id, const char *event_id, const guint8 ticket_id[16],
                  gint64 device_time, gint64 now, gboolean *out_notified, GError **error)
{
  g_autofree char *visit_id = gk_visit_id_for_event(event_id);
  sqlite3_stmt *s = stmt(c, Q_VISIT_FROM_TICKET, error);
  if (s == NULL)
    return FALSE;
  bind_text(c, s, 1, visit_id);
  bind_text(c, s, 2, device_id);
  bind_text(c, s, 3, event_id);
  bind_int(c, s, 4, device_time);
  bind_int(c, s, 5, now);
  bind_blob(c, s, 6, ticket_id, 16);
  bind_int(c, s, 7, site_id);
  gboolean ok = step_done(c, s, "cannot open the visit", error);
  sqlite3_clear_bindings(s); /* visit_id is about to be freed */
  /* The host hears of it in this same transaction (srv-outbox-sqlite.c). */
  return ok && srv_outbox_sqlite_queue_checkin(c->gk, site_id, ticket_id, device_id, event_id, device_time, now,
                                               out_notified, error);
}

/* A walk-in: its host must be one of the site's (checked first, so the answer
 * says what is wrong and the batch stores nothing), then its check-in event and
 * its visit. The place to hook a host notification for walk-ins. */
static gboolean
apply_walkin(Conn *c, const char *device_id, gint64 site_id, const SrvEvent *ev, gint64 now, gboolean *out_notified,
             GError **error)
{
  const char *what = "cannot store the walk-in";
  sqlite3_stmt *s;
  if (ev->host_id != 0) {
    s = stmt(c, Q_HOST_BY_ID, error);
    if (s == NULL)
      return FALSE;
    bind_int(c, s, 1, site_id);
    bind_int(c, s, 2, ev->host_id);
    int r = step(c, s, what, error);
    if (r < 0)
      return FALSE;
    sqlite3_reset(s);
    if (r == 0)
      return fail(error, SRV_STORE_ERROR_INVALID, "%s: event %s names host %" G_GINT64_FORMAT
                  ", which is not a host of this site", what, ev->id, ev->host_id);
  }
  if (!insert_event(c, ev->id, device_id, site_id, event_kinds[SRV_EVENT_WALKIN], NULL, ev->device_time, now,
                    ev->offline, ev->reason, FALSE, NULL, ev->visit_id, error))
    return FALSE;
  s = stmt(c, Q_VISIT_ADD, error);
  if (s == NULL)
    return FALSE;
  bind_text(c, s, 1, ev->visit_id);
  bind_int(c, s, 2, site_id);
  bind_text(c, s, 3, device_id);
  bind_text(c, s, 4, ev->visitor_name);
  bind_text(c, s, 5, ev->company);
  bind_text(c, s, 6, ev->purpose);
  if (ev->host_id != 0)
    bind_int(c, s, 7, ev->host_id);
  bind_int(c, s, 8, ev->terms_accepted ? 1 : 0);
  bind_text(c, s, 9, ev->id);
  bind_int(c, s, 10, ev->device_time);
  bind_int(c, s, 11, now);
  if (!step_done(c, s, what, error))
    return FALSE;
  if (ev->photo != NULL) {
    s = stmt(c, Q_VISIT_PHOTO_ADD, error);
    if (s == NULL)
      return FALSE;
    bind_text(c, s, 1, ev->visit_id);
    bind_bytes(c, s, 2, ev->photo);
    if (!step_done(c, s, what, error))
      return FALSE;
  }
  return srv_outbox_sqlite_queue_walkin(c->gk, site_id, ev->visit_id, device_id, ev->id, ev->device_time, now,
                                        out_notified, error);
}

/* A checkout ends the visit it names, or the latest open visit of its ticket;
 * one that matches no open visit (unknown, or already ended) is only recorded. */
static gboolean
close_visit(Conn *c, gint64 site_id, const SrvEvent *ev, GError **error)
{
  if (ev->visit_id == NULL && !ev->has_ticket)
    return TRUE;
  sqlite3_stmt *s = stmt(c, ev->visit_id != NULL ? Q_VISIT_CLOSE : Q_VISIT_CLOSE_TICKET, error);
  if (s == NULL)
    return FALSE;
  if (ev->visit_id != NULL)
    bind_text(c, s, 1, ev->visit_id);
  else
    bind_blob(c, s, 1, ev->ticket_id, 16);
  bind_int(c, s, 2, site_id);
  bind_int(c, s, 3, ev->device_time);
  bind_text(c, s, 4, ev->id);
  return step_done(c, s, "cannot close the visit", error);
}

/* The outcome a repeated online redemption with an already stored event id gets:
 * the stored one, or, for an event that came in a batch, what it amounted to. */
static gboolean
replay_outcome(Conn *c, sqlite3_stmt *s, const guint8 ticket_id[16], SrvRedeemOutcome *out, GError **error)
{
  guint8 stored_ticket[16];
  if (!col_id16(s, 0, stored_ticket) || memcmp(stored_ticket, ticket_id, 16) != 0)
    return fail(error, SRV_STORE_ERROR_EXISTS, "cannot redeem the ticket: the event id was used for another "
                "ticket");
  g_autofree char *kind = col_text(s, 1);
  gboolean conflict = sqlite3_column_int(s, 2) != 0;
  g_autofree char *outcome = col_text(s, 3);
  sqlite3_reset(s);
  int result = index_of(outcomes, G_N_ELEMENTS(outcomes), outcome);
  if (result < 0) {
    if (g_strcmp0(kind, "checkin") != 0)
      return fail(error, SRV_STORE_ERROR_EXISTS, "cannot redeem the ticket: the event id was used for "
                  "another kind of event");
    result = conflict ? SRV_REDEEM_ALREADY_USED : SRV_REDEEM_ACCEPTED;
  }
  if (result == SRV_REDEEM_ALREADY_USED)
    return fill_already_used(c, ticket_id, out, error);
  out->result = (SrvRedeemResult) result;
  return TRUE;
}

/* Event ids are made on devices; only the device that made one may repeat it.
 * Another device naming it would otherwise be told the first device's outcome
 * (or have its event silently dropped as a duplicate). */
static gboolean
event_owned_by(sqlite3_stmt *s, const char *device_id, const char *what, GError **error)
{
  const char *owner = (const char *) sqlite3_column_text(s, 4);
  if (g_strcmp0(owner, device_id) == 0)
    return TRUE;
  return fail(error, SRV_STORE_ERROR_EXISTS, "%s: another device already used this event id", what);
}

static gboolean
sq_redeem(gpointer backend, const char *device_id, gint64 site_id, const guint8 ticket_id[16],
          const char *event_id, gint64 device_time, gint64 now, SrvRedeemOutcome *out, GError **error)
{
  const char *what = "cannot redeem the ticket";
  if (!check_text(event_id, "the event id", error))
    return FALSE;
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  SrvRedeemOutcome res = { 0 };
  sqlite3_stmt *s;
  int r;
  /* The write lock from the start: the check and the claim see the same state. */
  if (!tx_begin(c, error))
    goto out;
  s = stmt(c, Q_EVENT_GET, error);
  if (s == NULL)
    goto out;
  bind_text(c, s, 1, event_id);
  r = step(c, s, what, error);
  if (r < 0)
    goto out;
  if (r == 1) {
    if (!event_owned_by(s, device_id, what, error) || !replay_outcome(c, s, ticket_id, &res, error))
      goto out;
    /* The answer to a repeat says what the first one said about the host. */
    if (res.result == SRV_REDEEM_ACCEPTED &&
        !srv_outbox_sqlite_checkin_queued(c->gk, event_id, ticket_id, &res.host_notified, error))
      goto out;
    gk_store_rollback(c->gk);  /* nothing written */
    ok = TRUE;
    goto out;
  }

  guint flags = 0;
  gboolean revoked = FALSE;
  r = ticket_of_site(c, ticket_id, site_id, &flags, &revoked, error);
  if (r < 0)
    goto out;
  if (r == 0) {
    res.result = SRV_REDEEM_UNKNOWN;
  } else if (revoked) {
    res.result = SRV_REDEEM_REVOKED;
  } else if (flags & GK_TICKET_FLAG_MULTI_ENTRY) {
    res.result = SRV_REDEEM_ACCEPTED;
  } else {
    gboolean claimed = FALSE;
    if (!claim_ticket(c, ticket_id, site_id, device_id, event_id, now, &claimed, error))
      goto out;
    if (claimed)
      res.result = SRV_REDEEM_ACCEPTED;
    else if (!fill_already_used(c, ticket_id, &res, error))
      goto out;
  }
  gboolean accepted = res.result == SRV_REDEEM_ACCEPTED;
  if (!insert_event(c, event_id, device_id, site_id, accepted ? "checkin" : "scan-rejected", ticket_id,
                    device_time, now, FALSE, accepted ? NULL : outcomes[res.result], FALSE,
                    outcomes[res.result], NULL, error) ||
      (accepted && !open_ticket_visit(c, site_id, device_id, event_id, ticket_id, device_time, now,
                                      &res.host_notified, error)) ||
      !tx_commit(c, what, error))
    goto out;
  ok = TRUE;
out:
  if (ok) {
    *out = res;
  } else {
    srv_redeem_outcome_clear(&res);
    gk_store_rollback(c->gk);
  }
  conn_put(backend, c);
  return ok;
}

static gboolean
add_alert(Conn *c, gint64 site_id, const guint8 ticket_id[16], const char *event_id, const char *first_event_id,
          const char *device_id, const char *first_device_id, gint64 now, GError **error)
{
  sqlite3_stmt *s = stmt(c, Q_ALERT_ADD, error);
  if (s == NULL)
    return FALSE;
  bind_int(c, s, 1, site_id);
  bind_blob(c, s, 2, ticket_id, 16);
  bind_text(c, s, 3, event_id);
  bind_text(c, s, 4, first_event_id);
  bind_text(c, s, 5, device_id);
  bind_text(c, s, 6, first_device_id);
  bind_int(c, s, 7, now);
  /* A replayed conflict adds no alert row, and so queues nothing either. */
  return step_done(c, s, "cannot raise the alert", error) &&
         (sqlite3_changes(c->db) == 0 ||
          srv_outbox_sqlite_queue_double_entry(c->gk, site_id, ticket_id, event_id, device_id, first_device_id, now,
                                               error));
}

/* An offline check-in of a one-time ticket of this site: the earliest admission
 * by (device time, event id) holds the redemption; any other is a conflict with
 * one alert. *out_conflict tells whether @ev is the conflicting one. */
static gboolean
apply_one_time_checkin(Conn *c, const char *device_id, gint64 site_id, const SrvEvent *ev, gint64 now,
                       gboolean *out_conflict, char **out_displaced, GError **error)
{
  FirstAdmission first;
  gboolean ok = FALSE;
  *out_conflict = FALSE;
  *out_displaced = NULL;
  if (!get_first_admission(c, ev->ticket_id, &first, error))
    return FALSE;
  if (!first.found) {
    gboolean claimed = FALSE;
    ok = claim_ticket(c, ev->ticket_id, site_id, device_id, ev->id, ev->device_time, &claimed, error);
    goto out;
  }
  gboolean later = !first.has_event_time || ev->device_time > first.event_time ||
                   (ev->device_time == first.event_time && g_strcmp0(ev->id, first.event_id) > 0);
  if (later) {
    *out_conflict = TRUE;
    ok = add_alert(c, site_id, ev->ticket_id, ev->id, first.event_id, device_id, first.device_id, now, error);
    goto out;
  }
  /* @ev happened first: it takes over the redemption (with a new seq, so devices
   * learn it) and the former first admission becomes the conflict. */
  gint64 seq = 0;
  if (!next_seq(c, &seq, error))
    goto out;
  sqlite3_stmt *s = stmt(c, Q_REDEMPTION_MOVE, error);
  if (s == NULL)
    goto out;
  bind_blob(c, s, 1, ev->ticket_id, 16);
  bind_text(c, s, 2, device_id);
  bind_text(c, s, 3, ev->id);
  bind_int(c, s, 4, ev->device_time);
  bind_int(c, s, 5, seq);
  if (!step_done(c, s, "cannot move the redemption", error))
    goto out;
  s = stmt(c, Q_EVENT_SET_CONFLICT, error);
  if (s == NULL)
    goto out;
  bind_text(c, s, 1, first.event_id);
  if (!step_done(c, s, "cannot mark the conflict", error))
    goto out;
  ok = add_alert(c, site_id, ev->ticket_id, first.event_id, ev->id, first.device_id, device_id, now, error);
  if (ok)
    *out_displaced = g_strdup(first.event_id);
out:
  first_admission_clear(&first);
  return ok;
}

static gboolean
sq_events_apply(gpointer backend, const char *device_id, gint64 site_id, const SrvEvent *events, guint n,
                gint64 now, SrvEventStatus *statuses, gboolean *notified, GError **error)
{
  const char *what = "cannot store the events";
  for (guint i = 0; i < n; i++) {
    if (events[i].id == NULL || events[i].id[0] == '\0' || !g_utf8_validate(events[i].id, -1, NULL))
      return fail(error, SRV_STORE_ERROR_INVALID, "%s: event %u has no valid id", what, i);
    if ((guint) events[i].kind >= G_N_ELEMENTS(event_kinds))
      return fail(error, SRV_STORE_ERROR_INVALID, "%s: event %u has an unknown kind", what, i);
    if (!check_optional_text(events[i].reason, "an event's reason", error))
      return FALSE;
    if (events[i].visit_id != NULL && !gk_visit_id_ok(events[i].visit_id))
      return fail(error, SRV_STORE_ERROR_INVALID, "%s: event %u has a malformed visit id", what, i);
    if (events[i].photo != NULL && (events[i].kind != SRV_EVENT_WALKIN || g_bytes_get_size(events[i].photo) == 0 ||
                                    g_bytes_get_size(events[i].photo) > SRV_STORE_PHOTO_MAX))
      return fail(error, SRV_STORE_ERROR_INVALID, "%s: event %u has a photo that is not allowed", what, i);
    if (events[i].kind == SRV_EVENT_WALKIN) {
      if (events[i].visit_id == NULL)
        return fail(error, SRV_STORE_ERROR_INVALID, "%s: walk-in %u has no visit id", what, i);
      if (!check_text(events[i].visitor_name, "a walk-in's name", error) ||
          !check_optional_text(events[i].company, "a walk-in's company", error) ||
          !check_optional_text(events[i].purpose, "a walk-in's purpose", error))
        return FALSE;
    }
  }
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  sqlite3_stmt *s;
  if (!tx_begin(c, error))
    goto out;
  for (guint i = 0; i < n; i++) {
    const SrvEvent *ev = &events[i];
    gboolean notified_here = FALSE;
    if (notified != NULL)
      notified[i] = FALSE;
    s = stmt(c, Q_EVENT_GET, error);
    if (s == NULL)
      goto out;
    bind_text(c, s, 1, ev->id);
    int r = step(c, s, what, error);
    if (r < 0)
      goto out;
    if (r == 1) {
      if (!event_owned_by(s, device_id, what, error))
        goto out;
      statuses[i] = SRV_EVENT_DUPLICATE;
      continue;
    }
    if (ev->kind == SRV_EVENT_WALKIN) {
      if (!apply_walkin(c, device_id, site_id, ev, now, &notified_here, error))
        goto out;
      statuses[i] = SRV_EVENT_STORED;
      if (notified != NULL)
        notified[i] = notified_here;
      continue;
    }
    gboolean conflict = FALSE;
    gboolean ticket_of_here = FALSE;
    if (ev->kind == SRV_EVENT_CHECKIN && ev->has_ticket) {
      guint flags = 0;
      gboolean revoked = FALSE;
      r = ticket_of_site(c, ev->ticket_id, site_id, &flags, &revoked, error);
      if (r < 0)
        goto out;
      ticket_of_here = r == 1;
      /* A ticket this site does not know, or a multi-entry one, is just recorded. */
      g_autofree char *displaced = NULL;
      if (r == 1 && !(flags & GK_TICKET_FLAG_MULTI_ENTRY) &&
          !apply_one_time_checkin(c, device_id, site_id, ev, now, &conflict, &displaced, error))
        goto out;
      /* The admission this event displaced may sit earlier in this very batch:
       * its answer must say conflict, as its row now does. */
      for (guint j = 0; displaced != NULL && j < i; j++)
        if (strcmp(events[j].id, displaced) == 0)
          statuses[j] = SRV_EVENT_CONFLICT;
    }
    if (!insert_event(c, ev->id, device_id, site_id, event_kinds[ev->kind], ev->has_ticket ? ev->ticket_id : NULL,
                      ev->device_time, now, ev->offline, ev->reason, conflict, NULL, ev->visit_id, error))
      goto out;
    /* An admission, even a conflicting one, put someone in the building. */
    if (ticket_of_here &&
        !open_ticket_visit(c, site_id, device_id, ev->id, ev->ticket_id, ev->device_time, now, &notified_here,
                           error))
      goto out;
    if (ev->kind == SRV_EVENT_CHECKOUT && !close_visit(c, site_id, ev, error))
      goto out;
    statuses[i] = conflict ? SRV_EVENT_CONFLICT : SRV_EVENT_STORED;
    if (notified != NULL)
      notified[i] = notified_here;
  }
  if (!tx_commit(c, what, error))
    goto out;
  ok = TRUE;
out:
  if (!ok)
    gk_store_rollback(c->gk);
  conn_put(backend, c);
  return ok;
}

static void
read_checkin_row(sqlite3_stmt *s, gpointer element)
{
  SrvCheckin *ci = element;
  ci->id = col_text(s, 0);
  g_autofree char *kind = col_text(s, 1);
  ci->kind = g_strcmp0(kind, "checkout") == 0 ? SRV_EVENT_CHECKOUT : SRV_EVENT_CHECKIN;
  ci->device_id = col_text(s, 2);
  ci->has_ticket = col_id16(s, 3, ci->ticket_id);
  ci->visitor_name = col_text(s, 4);
  ci->device_time = sqlite3_column_int64(s, 5);
  ci->server_time = sqlite3_column_int64(s, 6);
  ci->offline = sqlite3_column_int(s, 7) != 0;
  ci->conflict = sqlite3_column_int(s, 8) != 0;
}

static GArray *
sq_checkin_list(gpointer backend, gint64 site_id, guint limit, GError **error)
{
  return list_rows(backend, Q_CHECKIN_LIST, site_id, limit, sizeof(SrvCheckin), (GDestroyNotify) srv_checkin_clear,
                   read_checkin_row, "cannot list the check-ins", error);
}

static void
read_alert_row(sqlite3_stmt *s, gpointer element)
{
  SrvAlert *a = element;
  a->id = sqlite3_column_int64(s, 0);
  a->kind = col_text(s, 1);
  col_id16(s, 2, a->ticket_id);
  a->event_id = col_text(s, 3);
  a->first_event_id = col_text(s, 4);
  a->device_id = col_text(s, 5);
  a->first_device_id = col_text(s, 6);
  a->created_at = sqlite3_column_int64(s, 7);
}

static GArray *
sq_alert_list(gpointer backend, gint64 site_id, GError **error)
{
  return list_rows(backend, Q_ALERT_LIST, site_id, -1, sizeof(SrvAlert), (GDestroyNotify) srv_alert_clear,
                   read_alert_row, "cannot list the alerts", error);
}

/* ---- reception codes and visits ------------------------------------------------------------- */

/* The visit an accepted code check-in opened, for the badge. */
static gboolean
code_details(Conn *c, const char *event_id, SrvCodeOutcome *out, GError **error)
{
  if (out->redeem.result != SRV_REDEEM_ACCEPTED)
    return TRUE;
  sqlite3_stmt *s = stmt(c, Q_VISIT_BY_EVENT, error);
  if (s == NULL)
    return FALSE;
  bind_text(c, s, 1, event_id);
  int r = step(c, s, "cannot read the visit", error);
  if (r < 0)
    return FALSE;
  if (r == 1) {
    out->visit_id = col_text(s, 0);
    out->visitor_name = col_text(s, 1);
    out->company = col_text(s, 2);
    out->host_id = sqlite3_column_int64(s, 3);
    out->host_name = col_text(s, 4);
  }
  sqlite3_reset(s);
  return TRUE;
}

/* A repeated code request (@s: its stored event row): the first answer. */
static gboolean
replay_code(Conn *c, sqlite3_stmt *s, const char *event_id, gint64 site_id, SrvCodeOutcome *out, GError **error)
{
  guint8 stored[16];
  if (!col_id16(s, 0, stored)) {
    gboolean bad_code = g_strcmp0((const char *) sqlite3_column_text(s, 5), "bad-code") == 0;
    sqlite3_reset(s);
    if (!bad_code)
      return fail(error, SRV_STORE_ERROR_EXISTS, "cannot check the reception code: the event id was used for "
                  "another kind of event");
    out->result = SRV_CODE_BAD;
    return TRUE;
  }
  out->result = SRV_CODE_REDEEMED;
  memcpy(out->ticket_id, stored, 16);
  if (!replay_outcome(c, s, stored, &out->redeem, error))
    return FALSE;
  guint flags = 0;
  gboolean revoked = FALSE;
  if (ticket_of_site(c, stored, site_id, &flags, &revoked, error) < 0)
    return FALSE;
  out->multi = (flags & GK_TICKET_FLAG_MULTI_ENTRY) != 0;
  return code_details(c, event_id, out, error);
}

static gboolean
sq_redeem_code(gpointer backend, const char *device_id, gint64 site_id, const guint8 code_hash[32],
               const char *event_id, gint64 device_time, gint64 now, guint max_wrong, gint64 window_s,
               SrvCodeOutcome *out, GError **error)
{
  const char *what = "cannot check the reception code";
  if (!check_text(event_id, "the event id", error))
    return FALSE;
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  gboolean write = FALSE;
  SrvCodeOutcome res = { 0 };
  sqlite3_stmt *s;
  int r;
  if (!tx_begin(c, error))
    goto out;
  s = stmt(c, Q_EVENT_GET, error);
  if (s == NULL)
    goto out;
  bind_text(c, s, 1, event_id);
  r = step(c, s, what, error);
  if (r < 0)
    goto out;
  if (r == 1) {
    ok = event_owned_by(s, device_id, what, error) && replay_code(c, s, event_id, site_id, &res, error);
    goto out;
  }

  /* The limit before the code: a locked device learns nothing about it. */
  s = stmt(c, Q_CODE_WRONG_COUNT, error);
  if (s == NULL)
    goto out;
  bind_text(c, s, 1, device_id);
  bind_int(c, s, 2, now - window_s);
  if (step(c, s, what, error) != 1)
    goto out;
  gint64 wrong = sqlite3_column_int64(s, 0);
  gint64 oldest = sqlite3_column_int64(s, 1);
  sqlite3_reset(s);
  if (wrong >= (gint64) max_wrong) {
    res.result = SRV_CODE_RATE_LIMITED;
    res.retry_after = MAX(1, oldest + window_s - now);
    ok = TRUE;
    goto out;
  }

  s = stmt(c, Q_CODE_FIND, error);
  if (s == NULL)
    goto out;
  bind_int(c, s, 1, site_id);
  bind_blob(c, s, 2, code_hash, 32);
  bind_int(c, s, 3, now);
  r = step(c, s, what, error);
  if (r < 0)
    goto out;
  if (r == 0) {
    /* Recorded as a refused scan: the limit counts these, and a repeated
     * request finds the event and answers the same without counting twice. */
    res.result = SRV_CODE_BAD;
    write = TRUE;
    ok = insert_event(c, event_id, device_id, site_id, "scan-rejected", NULL, device_time, now, FALSE, "bad-code",
                      FALSE, outcomes[SRV_REDEEM_UNKNOWN], NULL, error);
    goto out;
  }
  col_id16(s, 0, res.ticket_id);
  guint flags = (guint) sqlite3_column_int64(s, 1);
  gint64 valid_from = sqlite3_column_int64(s, 2);
  sqlite3_reset(s);
  res.multi = (flags & GK_TICKET_FLAG_MULTI_ENTRY) != 0;
  if (valid_from > now) {
    res.result = SRV_CODE_NOT_YET_VALID;
    ok = TRUE;
    goto out;
  }

  /* From here exactly as srv_store_redeem(). */
  res.result = SRV_CODE_REDEEMED;
  if (res.multi) {
    res.redeem.result = SRV_REDEEM_ACCEPTED;
  } else {
    gboolean claimed = FALSE;
    if (!claim_ticket(c, res.ticket_id, site_id, device_id, event_id, now, &claimed, error))
      goto out;
    if (claimed)
      res.redeem.result = SRV_REDEEM_ACCEPTED;
    else if (!fill_already_used(c, res.ticket_id, &res.redeem, error))
      goto out;
  }
  gboolean accepted = res.redeem.result == SRV_REDEEM_ACCEPTED;
  write = TRUE;
  ok = insert_event(c, event_id, device_id, site_id, accepted ? "checkin" : "scan-rejected", res.ticket_id,
                    device_time, now, FALSE, accepted ? NULL : outcomes[res.redeem.result], FALSE,
                    outcomes[res.redeem.result], NULL, error) &&
       (!accepted || open_ticket_visit(c, site_id, device_id, event_id, res.ticket_id, device_time, now,
                                       &res.redeem.host_notified, error)) &&
       code_details(c, event_id, &res, error);
out:
  if (ok && write)
    ok = tx_commit(c, what, error);
  else
    gk_store_rollback(c->gk);  /* a failure, or nothing to write */
  if (ok)
    *out = res;
  else
    srv_code_outcome_clear(&res);
  conn_put(backend, c);
  return ok;
}

static void
read_visit_row(sqlite3_stmt *s, gpointer element)
{
  SrvVisit *v = element;
  v->id = col_text(s, 0);
  v->kind = col_text(s, 1);
  v->device_id = col_text(s, 2);
  v->has_ticket = col_id16(s, 3, v->ticket_id);
  v->visitor_name = col_text(s, 4);
  v->company = col_text(s, 5);
  v->purpose = col_text(s, 6);
  v->host_id = sqlite3_column_int64(s, 7);
  v->host_name = col_text(s, 8);
  v->labels = col_text(s, 9);
  v->terms_accepted = sqlite3_column_int(s, 10) != 0;
  v->checked_in_at = sqlite3_column_int64(s, 11);
  v->checked_out_at = sqlite3_column_int64(s, 12);
  v->created_at = sqlite3_column_int64(s, 13);
  v->has_photo = sqlite3_column_int(s, 14) != 0;
}

static GArray *
sq_visit_list(gpointer backend, gint64 site_id, gboolean present_only, guint limit, GError **error)
{
  return list_rows(backend, present_only ? Q_VISIT_LIST_PRESENT : Q_VISIT_LIST, site_id, limit, sizeof(SrvVisit),
                   (GDestroyNotify) srv_visit_clear, read_visit_row, "cannot list the visits", error);
}

static gboolean
sq_visit_photo(gpointer backend, gint64 site_id, const char *visit_id, GBytes **out, GError **error)
{
  Conn *c = conn_get(backend);
  gboolean ok = FALSE;
  sqlite3_stmt *s = stmt(c, Q_VISIT_PHOTO_GET, error);
  if (s == NULL)
    goto out;
  bind_text(c, s, 1, visit_id);
  bind_int(c, s, 2, site_id);
  int r = step(c, s, "cannot read the photo", error);
  if (r < 0)
    goto out;
  if (r == 0) {
    fail(error, SRV_STORE_ERROR_NOT_FOUND, "this site has no such visit with a photo");
    goto out;
  }
  *out = col_bytes(s, 0);
  ok = TRUE;
out:
  conn_put(backend, c);
  return ok;
}

/* ---- the change feed ------------------------------------------------------------------------ */

static void
add_hex(JsonBuilder *b, const char *name, sqlite3_stmt *s, int i)
{
  json_builder_set_member_name(b, name);
  const guint8 *data = sqlite3_column_blob(s, i);
  int len = sqlite3_column_bytes(s, i);
  if (data == NULL || len <= 0) {
    json_builder_add_null_value(b);
    return;
  }
  static const char digits[] = "0123456789abcdef";
  g_autofree char *hex = g_malloc((gsize) len * 2 + 1);
  for (int k = 0; k < len; k++) {
    hex[2 * k] = digits[data[k] >> 4];
    hex[2 * k + 1] = digits[data[k] & 0xf];
  }
  hex[2 * len] = '\0';
  json_builder_add_string_value(b, hex);
}

static void
add_int(JsonBuilder *b, const char *name, sqlite3_stmt *s, int i)
{
  json_builder_set_member_name(b, name);
  if (sqlite3_column_type(s, i) == SQLITE_NULL)
    json_builder_add_null_value(b);
  else
    json_builder_add_int_value(b, sqlite3_column_int64(s, i));
}

static void
add_string(JsonBuilder *b, const char *name, sqlite3_stmt *s, int i)
{
  json_builder_set_member_name(b, name);
  const char *v = (const char *) sqlite3_column_text(s, i);
  if (v == NULL)
    json_builder_add_null_value(b);
  else
    json_builder_add_string_value(b, v);
}

static void
add_bool(JsonBuilder *b, const char *name, gboolean v)
{
  json_builder_set_member_name(b, name);
  json_builder_add_boolean_value(b, v);
}

/* The row's JSON; column layout as in Q_CHANGES. */
static char *
change_json(sqlite3_stmt *s, SrvChangeType type)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  switch (type) {
  case SRV_CHANGE_TICKET:
    /* Personal data: the visitor's name, which reception needs to greet them;
     * never the company. */
    add_hex(b, "id", s, 2);
    add_int(b, "valid_from", s, 3);
    add_int(b, "valid_until", s, 4);
    add_int(b, "flags", s, 5);
    add_int(b, "key_id", s, 6);
    add_bool(b, "revoked", sqlite3_column_int(s, 7) != 0);
    add_string(b, "visitor", s, 8);
    add_int(b, "host_id", s, 9);
    /* The reception code's hash (never the code): devices check typed codes offline. */
    add_hex(b, "code_hash", s, 10);
    break;
  case SRV_CHANGE_HOST:
    /* Not the e-mail: devices only show hosts; the server notifies them. A
     * removed host is only its id: the device deletes it. */
    add_int(b, "id", s, 2);
    if (sqlite3_column_int(s, 6) != 0) {
      add_bool(b, "removed", TRUE);
      break;
    }
    add_string(b, "name", s, 3);
    add_string(b, "reading", s, 4);
    add_string(b, "department", s, 5);
    break;
  case SRV_CHANGE_REDEMPTION:
    add_hex(b, "ticket_id", s, 2);
    add_int(b, "at", s, 3);
    add_string(b, "device_id", s, 4);
    add_string(b, "device_name", s, 5);
    break;
  case SRV_CHANGE_KEY:
    add_int(b, "key_id", s, 2);
    add_hex(b, "public_key", s, 3);
    add_bool(b, "retired", sqlite3_column_type(s, 4) != SQLITE_NULL);
    break;
  }
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  return json_to_string(root, FALSE);
}

static GArray *
sq_changes_since(gpointer backend, gint64 site_id, gint64 cursor, guint limit, gboolean *out_more,
                 GError **error)
{
  Conn *c = conn_get(backend);
  GArray *list = g_array_new(FALSE, TRUE, sizeof(SrvChange));
  g_array_set_clear_func(list, (GDestroyNotify) srv_change_clear);
  gboolean more = FALSE;
  sqlite3_stmt *s = stmt(c, Q_CHANGES, error);
  int r = -1;
  if (s == NULL)
    goto out;
  bind_int(c, s, 1, site_id);
  bind_int(c, s, 2, cursor);
  /* One row past the page tells whether another page follows. */
  bind_int(c, s, 3, (gint64) limit + 1);
  while ((r = step(c, s, "cannot read the changes", error)) == 1) {
    if (list->len == limit) {
      more = TRUE;
      r = 0;
      break;
    }
    SrvChange ch = { 0 };
    ch.seq = sqlite3_column_int64(s, 0);
    ch.type = (SrvChangeType) sqlite3_column_int(s, 1);
    ch.json = change_json(s, ch.type);
    g_array_append_val(list, ch);
  }
out:
  conn_put(backend, c);
  if (r < 0) {
    g_clear_pointer(&list, g_array_unref);
    return NULL;
  }
  if (out_more != NULL)
    *out_more = more;
  return list;
}

const SrvStoreBackend srv_store_sqlite_backend = {
  .name = "sqlite",
  .create = sq_create,
  .open = sq_open,
  .close = sq_close,
  .site_add = sq_site_add,
  .site_default = sq_site_default,
  .account_add = sq_account_add,
  .account_get = sq_account_get,
  .account_get_by_id = sq_account_get_by_id,
  .account_set_password = sq_account_set_password,
  .session_add = sq_session_add,
  .session_touch = sq_session_touch,
  .session_delete = sq_session_delete,
  .host_add = sq_host_add,
  .host_list = sq_host_list,
  .host_find = sq_host_find,
  .ticket_add = sq_ticket_add,
  .ticket_get = sq_ticket_get,
  .ticket_revoke = sq_ticket_revoke,
  .signing_key_add = sq_signing_key_add,
  .enroll_code_add = sq_enroll_code_add,
  .enroll_code_redeem = sq_enroll_code_redeem,
  .device_list = sq_device_list,
  .device_get = sq_device_get,
  .device_by_serial = sq_device_by_serial,
  .device_revoke = sq_device_revoke,
  .revoked_serials = sq_revoked_serials,
  .device_renew = sq_device_renew,
  .device_settings_set = sq_device_settings_set,
  .device_settings_get = sq_device_settings_get,
  .device_config_running = sq_device_config_running,
  .device_seen = sq_device_seen,
  .redeem = sq_redeem,
  .events_apply = sq_events_apply,
  .checkin_list = sq_checkin_list,
  .alert_list = sq_alert_list,
  .redeem_code = sq_redeem_code,
  .visit_list = sq_visit_list,
  .visit_photo = sq_visit_photo,
  .changes_since = sq_changes_since,
  .outbox = &srv_outbox_sqlite_backend,
  .audit = &srv_audit_sqlite_backend,
  .auth = &srv_auth_sqlite_backend,
  .hosts = &srv_host_sqlite_backend,
  .retention = &srv_retention_sqlite_backend,
  .export = &srv_export_sqlite_backend,
};
