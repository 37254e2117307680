/* The audit log: an append-only, hash-chained record of every admin request,
 * sign-in, refusal, enrollment, revocation, export and config change
 * (docs/audit.md). */
#pragma once
#include <glib.h>

#include "srv-app-private.h"
#include "srv-loop.h"
#include "srv-store.h"

#define SRV_AUDIT_QUERY_ERROR srv_audit_query_error_quark()
GQuark srv_audit_query_error_quark(void);
typedef enum {
  SRV_AUDIT_QUERY_ERROR_INVALID, /* a query parameter or value is not acceptable */
} SrvAuditQueryError;

/* ---- recording ------------------------------------------------------------------ */

typedef enum {
  SRV_AUDIT_ACTOR_NONE = 0, /* nobody identified (actor "-") */
  SRV_AUDIT_ACTOR_ACCOUNT,  /* an admin account: actor is its username */
  SRV_AUDIT_ACTOR_DEVICE,   /* a device: actor is its device id */
  SRV_AUDIT_ACTOR_SYSTEM,   /* the server itself (scheduled purge, backup...) */
} SrvAuditActorKind;

typedef enum {
  SRV_AUDIT_OK = 0,
  SRV_AUDIT_REFUSED, /* the caller was not allowed or sent something unacceptable */
  SRV_AUDIT_ERROR,   /* the server failed */
} SrvAuditResult;

/* One event to record. Every string is copied; NULL means "not known". Never put
 * a secret (password, token, TOTP code, key) or a visitor's personal data (name,
 * company, e-mail) here: targets are ids ("dev-…", host id, ticket id, username). */
typedef struct {
  const char *action;      /* required, [a-z0-9._-]{1,64}: "login", "login.refused", "host.add",
                            * "device.revoke", "config.set", "export", "ticket.issue", "session.refused"… */
  SrvAuditResult result;
  const char *reason;      /* short machine code for REFUSED/ERROR ("bad-credentials",
                            * "locked-out", "forbidden"…); NULL when OK */
  const char *target;      /* what was acted on (an id); NULL: none */
  const char *actor;       /* NULL: the request's actor if known, else "-" */
  SrvAuditActorKind actor_kind; /* used when @actor is set */
  const char *source_ip;   /* NULL: the request's peer address if inside one, else "-" */
} SrvAuditEntry;

/* Appends @entry to the chain (serialised by the store's write transaction, so
 * the chain never forks). A failure to write is logged, never fatal. Over-long
 * strings are cut and control characters replaced.
 *
 * Inside an admin API request (on the worker thread that runs the handler),
 * NULL actor/source_ip are filled in from the request, and the router then
 * writes no generic entry of its own for that request: the explicit entry is
 * the request's record. So call it for a refusal you answer yourself
 * (lockout, TOTP, allow-list) with action "login.refused" / "session.refused"
 * and your error code as @reason, or leave it to the router, which records
 * every request's outcome (status class and error code) by itself. */
void srv_audit_record(SrvApp *app, const SrvAuditEntry *entry);

/* Records an action of the server itself (actor_kind system, actor "server",
 * source "-") on site @site_id (0: server-wide), e.g. a scheduled purge. Works
 * inside or outside a request and leaves the request's own entry alone. */
void srv_audit_record_system(SrvApp *app, gint64 site_id, const char *action, const char *target,
                             SrvAuditResult result, const char *reason);
/* Router hook (srv-admin-api.c): begin before dispatching an admin request and
 * end after it, on the same thread. end() records one entry for the request
 * from its route, the actor noted below and @response's status and error code,
 * unless a handler recorded one explicitly. */
void srv_audit_request_begin(const SrvRequest *request);
void srv_audit_request_end(SrvApp *app, const SrvRequest *request, const SrvResponse *response);
/* Notes who the current request is from (after sign-in or session check), so
 * its entry names the account; no-op outside a request. */
void srv_audit_request_actor(SrvAuditActorKind kind, const char *name);
/* Notes the site the current request acts on (once the session is checked), so
 * its entries are that site's; without it they are the server's own site. */
void srv_audit_request_site(gint64 site_id);

/* ---- admin API routes (the router checks the audit.read right first) ------------ */

/* GET /v1/audit?since=&actor=&action=&after=&limit= */
void srv_audit_handle_list(SrvApp *app, const SrvRequest *request, SrvResponse *response);
/* GET /v1/audit/verify */
void srv_audit_handle_verify(SrvApp *app, const SrvRequest *request, SrvResponse *response);
/* GET /v1/audit/export?since=&actor=&action=&after=&limit=&bom=0|1 (text/csv) */
void srv_audit_handle_export(SrvApp *app, const SrvRequest *request, SrvResponse *response);

/* ---- the chain ------------------------------------------------------------------- */

#define SRV_AUDIT_HASH_LEN 32

/* One stored entry. Absent target/reason are "" (never NULL once stored). */
typedef struct {
  gint64 seq;          /* 1, 2, 3… with no gaps */
  gint64 at;           /* Unix seconds, UTC */
  gint64 site_id;
  char *actor_kind;    /* none | account | device | system */
  char *actor;         /* username, device id or "-" */
  char *source_ip;     /* textual address or "-" */
  char *action;
  char *target;
  char *result;        /* ok | refused | error */
  char *reason;
  guint8 prev_hash[SRV_AUDIT_HASH_LEN];
  guint8 hash[SRV_AUDIT_HASH_LEN];
} SrvAuditRow;
void srv_audit_row_clear(SrvAuditRow *row);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(SrvAuditRow, srv_audit_row_clear)

/* The value the first entry chains to: 32 zero bytes. */
extern const guint8 srv_audit_genesis[SRV_AUDIT_HASH_LEN];

/* The canonical encoding of @row's fields (everything but the hashes), as
 * docs/audit.md describes; a GBytes to free. */
GBytes *srv_audit_encode(const SrvAuditRow *row);
/* SHA-256 of srv_audit_encode(@row) followed by @prev_hash. */
void srv_audit_chain_hash(const SrvAuditRow *row, const guint8 prev_hash[SRV_AUDIT_HASH_LEN],
                          guint8 out[SRV_AUDIT_HASH_LEN]);

/* Appends one entry: @row's seq, prev_hash and hash are filled in inside the
 * store's write transaction. INVALID for a field the schema refuses. */
gboolean srv_audit_store_append(SrvStore *store, SrvAuditRow *row, GError **error);

typedef struct {
  gint64 site_id;      /* this site's entries and the server-wide ones (site 0); 0: every entry */
  gint64 since;        /* at >= since; 0: no bound */
  gint64 after_seq;    /* seq > after_seq */
  const char *actor;   /* exact; NULL: any */
  const char *action;  /* exact; NULL: any */
  guint limit;         /* 1 … SRV_AUDIT_LIST_MAX */
  gboolean newest;     /* the newest @limit matches (still in seq order) */
} SrvAuditFilter;
#define SRV_AUDIT_LIST_MAX 20000
/* Matching entries in seq order; *out_more tells whether more match after them. */
GArray *srv_audit_store_list(SrvStore *store, const SrvAuditFilter *filter, gboolean *out_more, GError **error);

typedef enum {
  SRV_AUDIT_INTACT = 0,
  SRV_AUDIT_CHANGED,   /* an entry's fields (or its hash) differ from what was chained */
  SRV_AUDIT_REMOVED,   /* an entry is missing (a gap in seq, or its predecessor is gone) */
  SRV_AUDIT_REORDERED, /* an entry is intact but sits in another place than it was appended */
} SrvAuditProblem;
const char *srv_audit_problem_name(SrvAuditProblem problem);

typedef struct {
  gboolean ok;
  gint64 entries;        /* entries checked */
  gint64 first_bad_seq;  /* 0 when ok */
  SrvAuditProblem problem;
  gint64 head_seq;       /* the last entry checked (0: none) */
  guint8 head_hash[SRV_AUDIT_HASH_LEN]; /* its hash: worth writing down elsewhere */
} SrvAuditVerify;
/* Walks the whole chain; FALSE only when the store cannot be read. */
gboolean srv_audit_verify(SrvStore *store, SrvAuditVerify *out, GError **error);

/* Retention: deletes entries older than @before (Unix seconds) from the front of
 * the chain and moves the chain's base to the last one deleted, in one
 * transaction, so what remains still verifies. */
gboolean srv_audit_purge(SrvStore *store, gint64 before, guint *out_deleted, GError **error);

/* ---- query strings (outside input: tests/fuzz/fuzz-audit-query.c) ----------------- */

typedef struct {
  gint64 since;
  gint64 after_seq;
  char *actor;
  char *action;
  guint limit;       /* 0: not given */
  gboolean bom;
  gboolean has_since;
  gboolean has_after;
} SrvAuditQuery;
void srv_audit_query_clear(SrvAuditQuery *query);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(SrvAuditQuery, srv_audit_query_clear)
/* Parses the raw query string of GET /v1/audit[/export] (NULL: empty): only the
 * listed names, each at most once; since = Unix seconds or ISO 8601 with Z or an
 * offset; actor/action percent-decoded, 1–128 bytes of printable UTF-8; limit
 * 1–SRV_AUDIT_LIST_MAX; after >= 0; bom 0|1 (@allow_bom only). @out is
 * overwritten, not freed: clear it first when it holds an earlier result. */
gboolean srv_audit_query_parse(const char *query, gboolean allow_bom, SrvAuditQuery *out, GError **error);
/* One time value of a query (@name for the message): Unix seconds, or ISO 8601
 * with Z or an offset (as it stands in the query: not percent-decoded), 1970
 * to 9999. The exports take the same (srv-export.c). */
gboolean srv_audit_query_time(const char *name, const char *text, gint64 *out, GError **error);
