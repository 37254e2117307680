/* The server's master store, behind one interface: every query the server makes
 * is a function here, so SQL dialect details stay inside a backend (SQLite now,
 * PostgreSQL next). Callers never see SQL. All times are Unix seconds, UTC. */
#pragma once
#include <glib.h>

#define SRV_STORE_ERROR srv_store_error_quark()
GQuark srv_store_error_quark(void);
typedef enum {
  SRV_STORE_ERROR_FAILED,     /* the database refused or broke; message says why */
  SRV_STORE_ERROR_NOT_FOUND,  /* the named row does not exist (or is on another site) */
  SRV_STORE_ERROR_EXISTS,     /* a unique name or id is taken */
  SRV_STORE_ERROR_INVALID,    /* a value the schema refuses (bad role, bad mode, ...) */
  SRV_STORE_ERROR_USED,       /* a one-time thing (enrollment code) was used or expired */
} SrvStoreError;

typedef struct SrvStore SrvStore;

/* ---- lifecycle ------------------------------------------------------------- */

/* Creates a new master store (encrypted SQLite via gk-store) at @db_path with
 * @kek_path as its key-encryption key, and runs the migrations. Refuses an
 * existing database. */
gboolean srv_store_create(const char *db_path, const char *kek_path, GError **error);
/* Opens the store with a pool of @connections connections (one per worker thread
 * plus one); runs pending migrations. */
SrvStore *srv_store_open(const char *db_path, const char *kek_path, guint connections, GError **error);
void srv_store_close(SrvStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SrvStore, srv_store_close)

/* ---- sites and accounts ------------------------------------------------------ */

gboolean srv_store_site_add(SrvStore *store, const char *name, gint64 now, gint64 *out_id, GError **error);
/* The site with the lowest id (the one `init` made), for single-site commands. */
gboolean srv_store_site_default(SrvStore *store, gint64 *out_id, char **out_name, GError **error);

typedef struct {
  gint64 id;
  char *username;
  char *password_hash;   /* Argon2id encoded string */
  char *role;            /* owner | admin | receptionist | security | auditor */
  gboolean must_change_password;
} SrvAccount;
void srv_account_clear(SrvAccount *account);

gboolean srv_store_account_add(SrvStore *store, const char *username, const char *password_hash,
                               const char *role, gboolean must_change_password, gint64 now,
                               gint64 *out_id, GError **error);
gboolean srv_store_account_get(SrvStore *store, const char *username, SrvAccount *out, GError **error);
gboolean srv_store_account_get_by_id(SrvStore *store, gint64 id, SrvAccount *out, GError **error);
/* Sets a new hash, clears must_change_password, and ends every session of the account. */
gboolean srv_store_account_set_password(SrvStore *store, gint64 account_id, const char *password_hash,
                                        GError **error);

/* ---- sessions (tokens are stored as SHA-256 hashes only) ---------------------- */

gboolean srv_store_session_add(SrvStore *store, const guint8 token_hash[32], gint64 account_id,
                               const char *ip, gint64 now, GError **error);
/* Finds a live session: absolute age < @max_age, idle < @max_idle; refreshes its
 * last-used time. NOT_FOUND when missing or expired (an expired one is deleted). */
gboolean srv_store_session_touch(SrvStore *store, const guint8 token_hash[32], gint64 now,
                                 gint64 max_age, gint64 max_idle, gint64 *out_account_id, GError **error);
gboolean srv_store_session_delete(SrvStore *store, const guint8 token_hash[32], GError **error);

/* ---- hosts (staff who receive visitors) ---------------------------------------- */

typedef struct {
  gint64 id;
  gint64 site_id;
  char *name;
  char *reading;     /* kana reading, may be NULL */
  char *email;       /* may be NULL */
  char *department;  /* may be NULL */
} SrvHost;
void srv_host_clear(SrvHost *host);

gboolean srv_store_host_add(SrvStore *store, const SrvHost *host, gint64 now, gint64 *out_id, GError **error);
/* Hosts of a site ordered by name; a GArray of SrvHost (clear func set). */
GArray *srv_store_host_list(SrvStore *store, gint64 site_id, GError **error);
/* By exact id (digits) or exact name within the site; NOT_FOUND, or EXISTS when a
 * name matches several hosts. */
gboolean srv_store_host_find(SrvStore *store, gint64 site_id, const char *id_or_name, SrvHost *out,
                             GError **error);

/* ---- tickets ----------------------------------------------------------------------- */

/* An invitation e-mail to the visitor of a new ticket: srv_store_ticket_add
 * queues it in the outbox (srv-outbox.h) in the ticket's own transaction, so it
 * is sent exactly when the ticket is stored. */
typedef struct {
  const char *notification_id;  /* srv_outbox_new_id() */
  const char *email;            /* the visitor's address, checked (srv_notify_target_check) */
  const char *reception_code;   /* the ticket's code in plain, for the e-mail only; NULL: none */
} SrvInvitation;

typedef struct {
  guint8 id[16];
  gint64 site_id;
  gint64 host_id;        /* 0: none */
  char *visitor_name;
  char *company;         /* may be NULL */
  gint64 valid_from;
  gint64 valid_until;
  guint flags;           /* GkTicketFlags */
  guint key_id;
  char *text;            /* the signed QR text */
  gboolean revoked;
  gint64 created_at;
  char *purpose;         /* may be NULL */
  char *labels;          /* comma-separated, may be NULL */
  gboolean has_code;     /* a reception code was issued: code_hash holds its hash */
  guint8 code_hash[32];  /* gk_reception_code_hash(); the code itself is never stored here
                          * (an invitation's outbox row holds it until delivered) */
  const SrvInvitation *invitation;  /* srv_store_ticket_add only: also queue this; not owned */
} SrvTicket;
void srv_ticket_clear(SrvTicket *ticket);

/* EXISTS when the ticket id (or the invitation's notification id) is taken, or
 * when the reception code (has_code) is that of another unrevoked ticket of the
 * site that has not expired by created_at: the caller draws another code and
 * tries again. With @ticket->invitation, nothing is stored unless both are. */
gboolean srv_store_ticket_add(SrvStore *store, const SrvTicket *ticket, GError **error);
gboolean srv_store_ticket_get(SrvStore *store, const guint8 id[16], SrvTicket *out, GError **error);
gboolean srv_store_ticket_revoke(SrvStore *store, const guint8 id[16], GError **error);

/* ---- signing keys (public halves, pushed to devices) ------------------------------ */

gboolean srv_store_signing_key_add(SrvStore *store, guint key_id, const guint8 public_key[32], gint64 now,
                                   GError **error);

/* ---- devices and enrollment ---------------------------------------------------------- */

typedef struct {
  char *id;              /* server-chosen, e.g. "dev-1f3a…" */
  gint64 site_id;
  char *name;
  char *mode;            /* reception | gate */
  GBytes *serial;        /* client certificate serial */
  gint64 cert_expires_at;
  gint64 enrolled_at;
  gint64 revoked_at;     /* 0: not revoked */
  gint64 last_seen_at;   /* 0: never */
  gint64 clock_offset_ms;
  gint64 queue_length;
  gint64 config_version;          /* version of the settings an admin set */
  gint64 running_config_version;  /* the version the device reported it runs */
} SrvDevice;
void srv_device_clear(SrvDevice *device);

gboolean srv_store_enroll_code_add(SrvStore *store, const guint8 token_hash[32], gint64 site_id,
                                   const char *name, const char *mode, gint64 now, gint64 expires_at,
                                   GError **error);
/* Atomically marks the code used and records the device; USED when the code was
 * used before or has expired, NOT_FOUND when unknown. On success fills *out. */
gboolean srv_store_enroll_code_redeem(SrvStore *store, const guint8 token_hash[32], gint64 now,
                                      const char *device_id, GBytes *serial, gint64 cert_expires_at,
                                      SrvDevice *out, GError **error);
GArray *srv_store_device_list(SrvStore *store, gint64 site_id, GError **error);
gboolean srv_store_device_get(SrvStore *store, const char *device_id, SrvDevice *out, GError **error);
gboolean srv_store_device_by_serial(SrvStore *store, GBytes *serial, SrvDevice *out, GError **error);
/* Marks revoked (idempotent); *out gets the device as it now is. */
gboolean srv_store_device_revoke(SrvStore *store, const char *device_id, gint64 now, SrvDevice *out,
                                 GError **error);
/* Serials of every revoked device: the TLS layer's in-memory deny set. */
GPtrArray *srv_store_revoked_serials(SrvStore *store, GError **error);
/* Certificate renewal: replaces the device's serial @old_serial with @new_serial
 * in one conditional update, so the old certificate stops naming the device.
 * NOT_FOUND when the device is unknown, revoked, or no longer has @old_serial. */
gboolean srv_store_device_renew(SrvStore *store, const char *device_id, GBytes *old_serial, GBytes *new_serial,
                                gint64 cert_expires_at, GError **error);
/* Sets (or, for a NULL/empty value, removes) settings of one device in one
 * transaction and bumps its config version (*out_version). A "mode" setting
 * also changes the device row. Values must be validated by the caller. */
gboolean srv_store_device_settings_set(SrvStore *store, const char *device_id, const char *const *keys,
                                       const char *const *values, guint n, gint64 *out_version, GError **error);
/* key -> value of every setting the device has (g_hash_table_unref). */
GHashTable *srv_store_device_settings_get(SrvStore *store, const char *device_id, GError **error);
/* Records the settings version the device reported it runs. */
gboolean srv_store_device_config_running(SrvStore *store, const char *device_id, gint64 version, GError **error);
gboolean srv_store_device_seen(SrvStore *store, const char *device_id, gint64 now, gint64 clock_offset_ms,
                               gint64 queue_length, GError **error);

/* ---- redemption, events, conflicts ---------------------------------------------------- */

typedef enum {
  SRV_REDEEM_ACCEPTED,
  SRV_REDEEM_ALREADY_USED,
  SRV_REDEEM_REVOKED,
  SRV_REDEEM_UNKNOWN,     /* no such ticket on this site */
} SrvRedeemResult;

typedef struct {
  SrvRedeemResult result;
  gint64 used_at;          /* ALREADY_USED: when the first admission happened */
  char *used_by_device;    /* ALREADY_USED: device id of the first admission */
  char *used_by_name;      /* ALREADY_USED: that device's name */
  gboolean host_notified;  /* ACCEPTED: a notification to the ticket's host is queued (srv-outbox.h) */
} SrvRedeemOutcome;
void srv_redeem_outcome_clear(SrvRedeemOutcome *outcome);

/* Online redemption: one transaction that records the check-in event @event_id
 * (idempotent: the same event id again returns the first outcome) and, for a
 * one-time ticket, claims the ticket with one conditional insert. */
gboolean srv_store_redeem(SrvStore *store, const char *device_id, gint64 site_id, const guint8 ticket_id[16],
                          const char *event_id, gint64 device_time, gint64 now, SrvRedeemOutcome *out,
                          GError **error);

typedef enum {
  SRV_EVENT_CHECKIN,
  SRV_EVENT_CHECKOUT,
  SRV_EVENT_SCAN_REJECTED,
  SRV_EVENT_AUDIT,
  SRV_EVENT_WALKIN,    /* a visitor registered at a reception kiosk (stored as a check-in + a visit) */
} SrvEventKind;

typedef struct {
  char *id;            /* device-made unique id */
  SrvEventKind kind;
  gboolean has_ticket;
  guint8 ticket_id[16];
  gint64 device_time;
  gboolean offline;    /* the device decided without the server */
  char *reason;        /* scan-rejected reason / audit action; may be NULL */
  char *visit_id;      /* walkin: the new visit; checkout: the visit that ends (or NULL: by ticket) */
  char *visitor_name;  /* walkin only (personal data) */
  char *company;       /* walkin, may be NULL */
  char *purpose;       /* walkin, may be NULL */
  gint64 host_id;      /* walkin: a host of the device's site, 0: none */
  gboolean terms_accepted; /* walkin */
  GBytes *photo;       /* walkin: the visitor's JPEG (checked by srv-visit), or NULL (personal data) */
} SrvEvent;
void srv_event_clear(SrvEvent *event);

typedef enum {
  SRV_EVENT_STORED,
  SRV_EVENT_DUPLICATE,  /* this id was stored before: nothing changed */
  SRV_EVENT_CONFLICT,   /* stored, and it is a second admission of a one-time ticket */
} SrvEventStatus;

/* Stores a batch in one transaction; @statuses (n entries) tells what happened to
 * each. A check-in of a one-time ticket already admitted by another event keeps
 * both, marks the later one (by device time) a conflict and raises one alert.
 * Every check-in of a ticket of the site opens a visit (id gk_visit_id_for_event);
 * a walk-in opens its own (INVALID, and nothing stored, when its host is not
 * one of @site_id); a checkout ends the visit it names, or the ticket's latest
 * open one. */
gboolean srv_store_events_apply(SrvStore *store, const char *device_id, gint64 site_id,
                                const SrvEvent *events, guint n, gint64 now, SrvEventStatus *statuses,
                                GError **error);
/* The same, and @notified (n entries) tells which events queued a notification
 * to their host in the same transaction (check-ins and walk-ins whose host, or
 * the site default, has a channel; a one-time ticket notifies once). */
gboolean srv_store_events_apply_full(SrvStore *store, const char *device_id, gint64 site_id,
                                     const SrvEvent *events, guint n, gint64 now, SrvEventStatus *statuses,
                                     gboolean *notified, GError **error);

typedef struct {
  char *id;
  SrvEventKind kind;
  char *device_id;
  guint8 ticket_id[16];
  gboolean has_ticket;
  char *visitor_name;   /* from the ticket, NULL when none */
  gint64 device_time;
  gint64 server_time;
  gboolean offline;
  gboolean conflict;
} SrvCheckin;
void srv_checkin_clear(SrvCheckin *checkin);
/* Check-ins and check-outs of a site, newest first, at most @limit. */
GArray *srv_store_checkin_list(SrvStore *store, gint64 site_id, guint limit, GError **error);

typedef struct {
  gint64 id;
  char *kind;          /* "double-entry" */
  guint8 ticket_id[16];
  char *event_id;      /* the event marked as conflict */
  char *first_event_id;
  char *device_id;     /* device of the conflicting event */
  char *first_device_id;
  gint64 created_at;
} SrvAlert;
void srv_alert_clear(SrvAlert *alert);
GArray *srv_store_alert_list(SrvStore *store, gint64 site_id, GError **error);

/* ---- reception codes and visits ------------------------------------------------------- */

typedef enum {
  SRV_CODE_REDEEMED,       /* see .redeem: accepted or already-used, as srv_store_redeem() */
  SRV_CODE_BAD,            /* no unrevoked, unexpired ticket of the site has this code */
  SRV_CODE_NOT_YET_VALID,  /* the code is right but its window has not begun */
  SRV_CODE_RATE_LIMITED,   /* too many wrong codes from this device lately: nothing checked */
} SrvCodeResult;

typedef struct {
  SrvCodeResult result;
  SrvRedeemOutcome redeem;
  guint8 ticket_id[16];    /* REDEEMED, NOT_YET_VALID */
  gboolean multi;          /* the ticket allows several entries */
  char *visit_id;          /* accepted: the visit the check-in opened */
  char *visitor_name;      /* accepted: for the badge */
  char *company;           /* accepted, may be NULL */
  gint64 host_id;          /* accepted, 0: none */
  char *host_name;         /* accepted, may be NULL */
  gint64 retry_after;      /* RATE_LIMITED: seconds until the oldest counted wrong code leaves the window */
} SrvCodeOutcome;
void srv_code_outcome_clear(SrvCodeOutcome *outcome);

/* Check-in by reception code, in one transaction: a repeated @event_id answers
 * what the first request did and changes nothing; then, when @device_id sent
 * @max_wrong or more wrong codes in the last @window_s seconds, RATE_LIMITED;
 * else the ticket with @code_hash is redeemed exactly like srv_store_redeem()
 * (and opens a visit), or a wrong code is recorded (a scan-rejected event with
 * reason "bad-code", which is what the limit counts). */
gboolean srv_store_redeem_code(SrvStore *store, const char *device_id, gint64 site_id, const guint8 code_hash[32],
                               const char *event_id, gint64 device_time, gint64 now, guint max_wrong,
                               gint64 window_s, SrvCodeOutcome *out, GError **error);

typedef struct {
  char *id;             /* "vis-" + 32 hex */
  char *kind;           /* walkin | ticket */
  char *device_id;
  gboolean has_ticket;
  guint8 ticket_id[16];
  char *visitor_name;   /* personal data */
  char *company;        /* may be NULL */
  char *purpose;        /* may be NULL */
  gint64 host_id;       /* 0: none */
  char *host_name;      /* may be NULL */
  char *labels;         /* the ticket's labels, comma-separated, may be NULL */
  gboolean terms_accepted;
  gint64 checked_in_at;  /* device time */
  gint64 checked_out_at; /* device time, 0: still here */
  gint64 created_at;     /* server time the check-in arrived */
  gboolean has_photo;    /* a walk-in photo is stored (srv_store_visit_photo) */
} SrvVisit;
void srv_visit_clear(SrvVisit *visit);
/* Visits of a site, newest check-in first, at most @limit; with @present_only
 * those not checked out. */
GArray *srv_store_visit_list(SrvStore *store, gint64 site_id, gboolean present_only, guint limit, GError **error);

/* Largest walk-in photo the store keeps (a JPEG; srv-visit checks the rest). */
#define SRV_STORE_PHOTO_MAX (64 * 1024)
/* The photo of visit @visit_id of @site_id (*out: g_bytes_unref). NOT_FOUND
 * when the site has no such visit or the visit has no photo. */
gboolean srv_store_visit_photo(SrvStore *store, gint64 site_id, const char *visit_id, GBytes **out,
                               GError **error);

/* ---- the change feed devices pull ---------------------------------------------------- */

typedef enum {
  SRV_CHANGE_TICKET,      /* json: id, valid_from, valid_until, flags, key_id, revoked, visitor, host_id */
  SRV_CHANGE_HOST,        /* json: id, name, reading, department; a removed host: id, removed (true) */
  SRV_CHANGE_REDEMPTION,  /* json: ticket_id, at, device_id, device_name */
  SRV_CHANGE_KEY,         /* json: key_id, public_key (hex), retired */
} SrvChangeType;

typedef struct {
  gint64 seq;
  SrvChangeType type;
  char *json;   /* the object describing the row's current state */
} SrvChange;
void srv_change_clear(SrvChange *change);

/* Changes of @site_id with seq > @cursor, in seq order, at most @limit. *out_more
 * tells whether more follow. Every write that a device must learn bumps the row's
 * seq, so a cursor is resumable and a re-sent page changes nothing on the device. */
GArray *srv_store_changes_since(SrvStore *store, gint64 site_id, gint64 cursor, guint limit,
                                gboolean *out_more, GError **error);
