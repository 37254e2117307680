/* The touchscreen app's engine: a one-thread pool runs every request against
 * the store in order, the sync worker runs beside it with its own connection,
 * and state/settings changes reach the main loop as signals. */
#include "kiosk-engine.h"

#include <string.h>

#include "gk-log.h"
#include "gk-password.h"
#include "kiosk-enroll.h"
#include "kiosk-net.h"
#include "kiosk-settings.h"
#include "kiosk-store.h"
#include "kiosk-sync-worker.h"

G_DEFINE_QUARK(kiosk-engine-error-quark, kiosk_engine_error)

/* Wrong admin PINs allowed before the check locks, and the first lock. */
#define PIN_FREE_TRIES 5
#define PIN_FIRST_LOCK_S 30
#define PIN_LOCK_MAX_S 3600

struct _KioskEngine {
  GObject parent_instance;
  char *data_dir;
  double sync_interval_s;
  GMainContext *main_context;
  GThreadPool *pool;           /* max 1 thread: requests run in order */

  /* Owned by the pool's thread once the engine is made. */
  KioskStore *store;
  KioskClient *client;
  KioskGate *gate;
  KioskIdentity identity;
  gint redeem_timeout_ms;      /* atomic: 0 = the gate's default */
  guint pin_failures;
  gint64 pin_locked_until;     /* monotonic us */

  /* Main thread only. */
  KioskSyncWorker *worker;
  GHashTable *settings;        /* key -> effective value */
  char *mode;
  gboolean enrolled;
  gboolean online;
  gint64 queue_length;
};

G_DEFINE_FINAL_TYPE(KioskEngine, kiosk_engine, G_TYPE_OBJECT)

enum { SIGNAL_STATE_CHANGED, SIGNAL_SETTINGS_CHANGED, SIGNAL_REVOKED, N_SIGNALS };
static guint signals[N_SIGNALS];

typedef enum {
  JOB_ENROLL,
  JOB_SCAN,
  JOB_CODE,
  JOB_WALKIN,
  JOB_CHECKOUT_VISIT,
  JOB_HOSTS,
  JOB_PRESENT,
  JOB_STATUS,
  JOB_PIN,
  JOB_RELOAD,      /* internal: settings snapshot after a sync */
} JobKind;

typedef struct {
  JobKind kind;
  char *text;            /* scan text, code, PIN, query, visit id */
  gsize len;
  KioskScanPurpose purpose;
  gint64 frame_time_us;
  guint limit;
  char *name, *company, *purpose_text;
  gint64 host_id;
  gboolean terms_accepted;
  GBytes *photo;         /* walk-in: the caller's (self-wiping) JPEG, or NULL */
} Job;

static void
job_free(Job *job)
{
  /* PINs and codes are secrets; visitor fields are personal data. */
  if (job->text != NULL)
    memset(job->text, 0, job->len);
  g_free(job->text);
  g_free(job->name);
  g_free(job->company);
  g_free(job->purpose_text);
  g_clear_pointer(&job->photo, g_bytes_unref);
  g_free(job);
}

void
kiosk_engine_reply_free(KioskEngineReply *reply)
{
  if (reply == NULL)
    return;
  kiosk_verdict_clear(&reply->verdict);
  kiosk_visit_result_clear(&reply->visit);
  g_clear_error(&reply->refusal);
  g_clear_pointer(&reply->hosts, g_ptr_array_unref);
  g_clear_pointer(&reply->present, g_ptr_array_unref);
  g_free(reply->status.device_id);
  g_free(reply->status.device_name);
  g_free(reply->status.mode);
  g_free(reply->status.server);
  g_clear_pointer(&reply->settings, g_hash_table_unref);
  g_free(reply);
}

/* ---- the engine thread ------------------------------------------------------- */

static GHashTable *
read_settings(KioskStore *store)
{
  GHashTable *table = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
  gsize n = 0;
  const KioskSetting *all = kiosk_settings_table(&n);
  for (gsize i = 0; i < n; i++) {
    char *value = kiosk_settings_get(store, all[i].key);
    if (value != NULL)
      g_hash_table_insert(table, (gpointer) all[i].key, value);
  }
  /* Without a remote "mode", the mode the server gave the device row. */
  if (!g_hash_table_contains(table, "mode")) {
    char *mode = kiosk_store_get_meta(store, "mode");
    if (mode != NULL)
      g_hash_table_insert(table, (gpointer) "mode", mode);
  }
  return table;
}

/* Loads identity, client and gate for an opened store (engine thread, or the
 * constructor before the pool has work). */
static gboolean
attach_store(KioskEngine *self, KioskStore *store, GError **error)
{
  KioskIdentity id = { 0 };
  if (!kiosk_store_load_identity(store, &id, error))
    return FALSE;
  KioskClient *client =
    kiosk_client_new(id.host, id.admin_port, id.device_port, id.ca_pem, id.cert_pem, id.key_pem);
  KioskGate *gate = kiosk_gate_new(store, client, error);
  if (gate == NULL) {
    kiosk_client_free(client);
    kiosk_identity_clear(&id);
    return FALSE;
  }
  long timeout = g_atomic_int_get(&self->redeem_timeout_ms);
  if (timeout > 0)
    kiosk_gate_set_redeem_timeout(gate, timeout);
  self->store = store;
  self->client = client;
  self->gate = gate;
  self->identity = id;
  return TRUE;
}

static void
detach_store(KioskEngine *self)
{
  g_clear_pointer(&self->gate, kiosk_gate_free);
  g_clear_pointer(&self->client, kiosk_client_free);
  g_clear_pointer(&self->store, kiosk_store_close);
  kiosk_identity_clear(&self->identity);
}

static char *
effective_mode(KioskStore *store, const KioskIdentity *id)
{
  char *mode = kiosk_settings_get(store, "mode");
  if (mode == NULL)
    mode = kiosk_store_get_meta(store, "mode");
  return mode != NULL ? mode : g_strdup(id->mode);
}

static void
fill_status(KioskEngine *self, KioskEngineStatus *st)
{
  st->enrolled = self->store != NULL;
  if (!st->enrolled)
    return;
  KioskStore *s = self->store;
  st->device_id = g_strdup(self->identity.device_id);
  st->device_name = kiosk_store_get_meta(s, "name");
  st->mode = effective_mode(s, &self->identity);
  st->server = g_strdup_printf("%s:%u", self->identity.host, self->identity.device_port);
  st->site_id = self->identity.site_id;
  st->last_sync_at = kiosk_store_get_meta_int(s, "last_sync", 0);
  st->cert_expires_at = kiosk_store_get_meta_int(s, "cert_expires_at", 0);
  st->queue_length = kiosk_store_queue_length(s);
  st->clock_offset_ms = kiosk_store_get_meta_int(s, "clock_offset_ms", 0);
  st->config_version = kiosk_store_get_meta_int(s, "config_version", 0);
}

/* Expected refusals (wrong code, unknown badge, bad form) are outcomes the
 * screen explains, not failures: they travel in reply->refusal. */
static gboolean
is_refusal(const GError *error)
{
  return error != NULL && error->domain == KIOSK_VISIT_ERROR;
}

static gboolean
check_pin(KioskEngine *self, const char *pin, GError **error)
{
  gint64 now = g_get_monotonic_time();
  if (now < self->pin_locked_until) {
    g_set_error(error, KIOSK_ENGINE_ERROR, KIOSK_ENGINE_ERROR_PIN_LOCKED,
                "too many wrong PINs: try again in %" G_GINT64_FORMAT " s",
                (self->pin_locked_until - now) / G_USEC_PER_SEC + 1);
    return FALSE;
  }
  g_autofree char *hash = kiosk_settings_get(self->store, "admin-pin-hash");
  if (hash == NULL) {
    g_set_error_literal(error, KIOSK_ENGINE_ERROR, KIOSK_ENGINE_ERROR_NO_PIN,
                        "no admin PIN is set for this device (genkanctl device config set ID admin-pin=…)");
    return FALSE;
  }
  if (gk_password_verify(hash, pin)) {
    self->pin_failures = 0;
    GK_LOG_INFO("kiosk.admin.unlocked");
    return TRUE;
  }
  self->pin_failures++;
  GK_LOG_WARN("kiosk.admin.wrong_pin", GK_UINT("failures", self->pin_failures));
  if (self->pin_failures >= PIN_FREE_TRIES) {
    guint extra = MIN(self->pin_failures - PIN_FREE_TRIES, 10u);
    gint64 lock_s = MIN((gint64) PIN_FIRST_LOCK_S << extra, (gint64) PIN_LOCK_MAX_S);
    self->pin_locked_until = now + lock_s * G_USEC_PER_SEC;
  }
  g_set_error_literal(error, KIOSK_ENGINE_ERROR, KIOSK_ENGINE_ERROR_PIN_LOCKED, "wrong PIN");
  return FALSE;
}

static gboolean
run_enroll(KioskEngine *self, const char *code, GError **error)
{
  KioskStore *store = NULL;
  if (!kiosk_enroll(self->data_dir, code, &store, error))
    return FALSE;
  if (!attach_store(self, store, error)) {
    kiosk_store_close(store);
    return FALSE;
  }
  /* The first full sync; enrolled all the same when it does not finish (the
   * background worker resumes from the cursor). */
  KioskSyncSummary summary;
  g_autoptr(GError) sync_error = NULL;
  if (!kiosk_sync_run(self->store, self->client, &self->identity, NULL, NULL, &summary, &sync_error))
    GK_LOG_WARN("kiosk.enroll.first_sync_failed", GK_STR("error", sync_error->message));
  return TRUE;
}

static gboolean
run_scan(KioskEngine *self, Job *job, KioskEngineReply *reply, GError **error)
{
  g_autofree char *mode = effective_mode(self->store, &self->identity);
  if (g_strcmp0(mode, "gate") == 0) {
    reply->kind = KIOSK_REPLY_VERDICT;
    return kiosk_gate_scan(self->gate, job->text, job->len, 0, &reply->verdict, error);
  }
  reply->kind = KIOSK_REPLY_VISIT;
  g_autoptr(GError) local = NULL;
  gboolean ok;
  if (job->purpose == KIOSK_SCAN_FOR_CHECKOUT || g_str_has_prefix(job->text, KIOSK_BADGE_PREFIX)) {
    ok = kiosk_visit_checkout(self->store, self->client, job->text, job->len, &reply->visit, &local);
    reply->visit_ok = ok;
  } else {
    ok = kiosk_visit_ticket(self->gate, self->store, job->text, job->len, &reply->verdict, &reply->visit, &local);
    reply->visit_ok = ok && reply->verdict.accepted;
  }
  if (!ok && !is_refusal(local)) {
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  reply->refusal = g_steal_pointer(&local);
  return TRUE;
}

static gboolean
run_visit(KioskEngine *self, Job *job, KioskEngineReply *reply, GError **error)
{
  g_autoptr(GError) local = NULL;
  gboolean ok = FALSE;
  reply->kind = KIOSK_REPLY_VISIT;
  switch (job->kind) {
  case JOB_CODE:
    ok = kiosk_visit_reception_code(self->store, self->client, job->text, &reply->visit, &local);
    break;
  case JOB_WALKIN: {
    KioskWalkin w = { .visitor_name = job->name, .company = job->company, .purpose = job->purpose_text,
                      .host_id = job->host_id, .terms_accepted = job->terms_accepted, .photo = job->photo };
    ok = kiosk_visit_walkin(self->store, self->client, &w, &reply->visit, &local);
    break;
  }
  case JOB_CHECKOUT_VISIT: {
    g_autofree char *badge = g_strconcat(KIOSK_BADGE_PREFIX, job->text, NULL);
    ok = kiosk_visit_checkout(self->store, self->client, badge, strlen(badge), &reply->visit, &local);
    break;
  }
  default:
    g_assert_not_reached();
  }
  reply->visit_ok = ok;
  if (!ok && !is_refusal(local)) {
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  reply->refusal = g_steal_pointer(&local);
  return TRUE;
}

static KioskEngineReply *
run_job(KioskEngine *self, Job *job, GError **error)
{
  g_autoptr(KioskEngineReply) reply = g_new0(KioskEngineReply, 1);
  reply->kind = KIOSK_REPLY_DONE;
  reply->frame_time_us = job->frame_time_us;
  if (job->kind == JOB_ENROLL) {
    if (self->store != NULL) {
      g_set_error_literal(error, KIOSK_STORE_ERROR, KIOSK_STORE_ERROR_ENROLLED, "this device is already enrolled");
      return NULL;
    }
    if (!run_enroll(self, job->text, error))
      return NULL;
    reply->settings = read_settings(self->store);
    return g_steal_pointer(&reply);
  }
  if (job->kind == JOB_STATUS) {
    reply->kind = KIOSK_REPLY_STATUS;
    fill_status(self, &reply->status);
    return g_steal_pointer(&reply);
  }
  if (self->store == NULL) {
    g_set_error_literal(error, KIOSK_ENGINE_ERROR, KIOSK_ENGINE_ERROR_NOT_ENROLLED, "this device is not enrolled");
    return NULL;
  }
  /* The gate is the engine thread's: apply a changed timeout here. */
  long timeout = g_atomic_int_get(&self->redeem_timeout_ms);
  if (timeout > 0 && self->gate != NULL)
    kiosk_gate_set_redeem_timeout(self->gate, timeout);
  gboolean ok = TRUE;
  switch (job->kind) {
  case JOB_SCAN:
    ok = run_scan(self, job, reply, error);
    break;
  case JOB_CODE:
  case JOB_WALKIN:
  case JOB_CHECKOUT_VISIT:
    ok = run_visit(self, job, reply, error);
    break;
  case JOB_HOSTS:
    reply->kind = KIOSK_REPLY_HOSTS;
    reply->hosts = kiosk_visit_search_hosts(self->store, job->text, job->limit, error);
    ok = reply->hosts != NULL;
    break;
  case JOB_PRESENT:
    reply->kind = KIOSK_REPLY_PRESENT;
    reply->present = kiosk_visit_list_present(self->store, 200, error);
    ok = reply->present != NULL;
    break;
  case JOB_PIN:
    ok = check_pin(self, job->text, error);
    break;
  case JOB_RELOAD:
    reply->settings = read_settings(self->store);
    break;
  default:
    g_assert_not_reached();
  }
  if (!ok)
    return NULL;
  reply->queue_length = kiosk_store_queue_length(self->store);
  return g_steal_pointer(&reply);
}

static void
pool_func(gpointer data, gpointer user_data)
{
  GTask *task = data;
  KioskEngine *self = g_task_get_source_object(task);
  Job *job = g_task_get_task_data(task);
  GError *error = NULL;
  KioskEngineReply *reply = run_job(self, job, &error);
  if (reply != NULL)
    g_task_return_pointer(task, reply, (GDestroyNotify) kiosk_engine_reply_free);
  else
    g_task_return_error(task, error);
  g_object_unref(task);
}

/* ---- main thread ------------------------------------------------------------------ */

static void
submit(KioskEngine *self, Job *job, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new(self, NULL, callback, user_data);
  g_task_set_source_tag(task, submit);
  g_task_set_task_data(task, job, (GDestroyNotify) job_free);
  g_thread_pool_push(self->pool, task, NULL);
}

static Job *
job_new(JobKind kind, const char *text, gsize len)
{
  Job *job = g_new0(Job, 1);
  job->kind = kind;
  if (text != NULL) {
    job->text = g_strndup(text, len);
    job->len = len;
  }
  return job;
}

static void
set_online(KioskEngine *self, gboolean online, gint64 queue_length)
{
  if (self->online == online && self->queue_length == queue_length)
    return;
  self->online = online;
  self->queue_length = queue_length;
  g_signal_emit(self, signals[SIGNAL_STATE_CHANGED], 0);
}

static void
apply_settings(KioskEngine *self, GHashTable *settings)
{
  gboolean same = self->settings != NULL && g_hash_table_size(self->settings) == g_hash_table_size(settings);
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init(&it, settings);
  while (same && g_hash_table_iter_next(&it, &key, &value))
    same = g_strcmp0(g_hash_table_lookup(self->settings, key), value) == 0;
  g_clear_pointer(&self->settings, g_hash_table_unref);
  self->settings = g_hash_table_ref(settings);
  const char *mode = g_hash_table_lookup(settings, "mode");
  if (mode != NULL && g_strcmp0(mode, self->mode) != 0) {
    g_free(self->mode);
    self->mode = g_strdup(mode);
    same = FALSE;
  }
  if (!same)
    g_signal_emit(self, signals[SIGNAL_SETTINGS_CHANGED], 0);
}

static void
reload_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  KioskEngine *self = KIOSK_ENGINE(source);
  g_autoptr(GError) error = NULL;
  g_autoptr(KioskEngineReply) reply = kiosk_engine_finish(self, result, &error);
  if (reply == NULL) {
    GK_LOG_WARN("kiosk.engine.reload_failed", GK_STR("error", error->message));
    return;
  }
  apply_settings(self, reply->settings);
}

typedef struct {
  GWeakRef self;     /* its own weak ref: the note may outlive the engine */
  gboolean ok;
  gboolean revoked;
  gint64 queue_left;
} RoundNote;

static void
round_note_free(gpointer data)
{
  RoundNote *note = data;
  g_weak_ref_clear(&note->self);
  g_free(note);
}

static gboolean
round_on_main(gpointer data)
{
  RoundNote *note = data;
  g_autoptr(KioskEngine) self = g_weak_ref_get(&note->self);
  if (self == NULL)
    return G_SOURCE_REMOVE;
  if (note->revoked) {
    g_autoptr(GError) error = NULL;
    if (!kiosk_engine_forget(self, &error))
      GK_LOG_ERR("kiosk.engine.wipe_failed", GK_STR("error", error->message));
    g_signal_emit(self, signals[SIGNAL_REVOKED], 0);
    return G_SOURCE_REMOVE;
  }
  set_online(self, note->ok, note->ok ? note->queue_left : self->queue_length);
  if (note->ok)
    submit(self, job_new(JOB_RELOAD, NULL, 0), reload_done, NULL);
  return G_SOURCE_REMOVE;
}

/* Sync worker thread: only copies facts and hands them to the main loop. */
static void
on_round(gboolean ok, const KioskSyncSummary *summary, const GError *error, gpointer user_data)
{
  KioskEngine *self = user_data;
  RoundNote *note = g_new0(RoundNote, 1);
  g_weak_ref_init(&note->self, self);
  note->ok = ok;
  note->revoked = g_error_matches(error, KIOSK_SYNC_ERROR, KIOSK_SYNC_ERROR_REVOKED);
  note->queue_left = summary != NULL ? summary->queue_left : 0;
  g_main_context_invoke_full(self->main_context, G_PRIORITY_DEFAULT, round_on_main, note, round_note_free);
}

static void
start_worker(KioskEngine *self)
{
  if (self->worker == NULL && self->sync_interval_s > 0)
    self->worker = kiosk_sync_worker_start(self->data_dir, self->sync_interval_s, on_round, self);
}

KioskEngineReply *
kiosk_engine_finish(KioskEngine *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), NULL);
  KioskEngineReply *reply = g_task_propagate_pointer(G_TASK(result), error);
  if (reply == NULL)
    return NULL;
  /* Every answer carries what the status corner shows. */
  gboolean decided_offline = (reply->kind == KIOSK_REPLY_VERDICT && reply->verdict.offline &&
                              reply->verdict.reason != KIOSK_REASON_MALFORMED) ||
                             (reply->kind == KIOSK_REPLY_VISIT && reply->visit_ok && reply->visit.offline);
  if (decided_offline)
    set_online(self, FALSE, reply->queue_length);
  else if (reply->kind == KIOSK_REPLY_VISIT || reply->kind == KIOSK_REPLY_VERDICT)
    set_online(self, self->online, reply->queue_length);
  return reply;
}

static void
enroll_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *outer = user_data;
  KioskEngine *self = KIOSK_ENGINE(source);
  GError *error = NULL;
  KioskEngineReply *reply = kiosk_engine_finish(self, result, &error);
  if (reply == NULL) {
    g_task_return_error(outer, error);
  } else {
    self->enrolled = TRUE;
    apply_settings(self, reply->settings);
    start_worker(self);
    set_online(self, TRUE, reply->queue_length);
    g_task_return_pointer(outer, reply, (GDestroyNotify) kiosk_engine_reply_free);
  }
  g_object_unref(outer);
}

void
kiosk_engine_enroll_async(KioskEngine *self, const char *code, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(KIOSK_IS_ENGINE(self) && code != NULL);
  /* The outer task finishes on the main thread after the engine has switched
   * to the enrolled state, so the caller sees the new mode at once. */
  GTask *outer = g_task_new(self, NULL, callback, user_data);
  submit(self, job_new(JOB_ENROLL, code, strlen(code)), enroll_done, outer);
}

void
kiosk_engine_scan_async(KioskEngine *self, const char *text, gsize len, KioskScanPurpose purpose,
                        gint64 frame_time_us, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(KIOSK_IS_ENGINE(self) && text != NULL);
  Job *job = job_new(JOB_SCAN, text, len);
  job->purpose = purpose;
  job->frame_time_us = frame_time_us;
  submit(self, job, callback, user_data);
}

void
kiosk_engine_reception_code_async(KioskEngine *self, const char *code, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  g_return_if_fail(KIOSK_IS_ENGINE(self) && code != NULL);
  submit(self, job_new(JOB_CODE, code, strlen(code)), callback, user_data);
}

void
kiosk_engine_walkin_async(KioskEngine *self, const KioskWalkin *w, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(KIOSK_IS_ENGINE(self) && w != NULL);
  Job *job = job_new(JOB_WALKIN, NULL, 0);
  job->name = g_strdup(w->visitor_name);
  job->company = g_strdup(w->company);
  job->purpose_text = g_strdup(w->purpose);
  job->host_id = w->host_id;
  job->terms_accepted = w->terms_accepted;
  /* A reference, not a copy: the UI's bytes wipe themselves when the last one goes. */
  job->photo = w->photo != NULL ? g_bytes_ref(w->photo) : NULL;
  submit(self, job, callback, user_data);
}

void
kiosk_engine_checkout_visit_async(KioskEngine *self, const char *visit_id, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  g_return_if_fail(KIOSK_IS_ENGINE(self) && visit_id != NULL);
  submit(self, job_new(JOB_CHECKOUT_VISIT, visit_id, strlen(visit_id)), callback, user_data);
}

void
kiosk_engine_search_hosts_async(KioskEngine *self, const char *query, guint limit, GAsyncReadyCallback callback,
                                gpointer user_data)
{
  g_return_if_fail(KIOSK_IS_ENGINE(self));
  const char *q = query != NULL ? query : "";
  Job *job = job_new(JOB_HOSTS, q, strlen(q));
  job->limit = limit;
  submit(self, job, callback, user_data);
}

void
kiosk_engine_list_present_async(KioskEngine *self, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(KIOSK_IS_ENGINE(self));
  submit(self, job_new(JOB_PRESENT, NULL, 0), callback, user_data);
}

void
kiosk_engine_status_async(KioskEngine *self, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(KIOSK_IS_ENGINE(self));
  submit(self, job_new(JOB_STATUS, NULL, 0), callback, user_data);
}

void
kiosk_engine_check_pin_async(KioskEngine *self, const char *pin, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(KIOSK_IS_ENGINE(self) && pin != NULL);
  submit(self, job_new(JOB_PIN, pin, strlen(pin)), callback, user_data);
}

void
kiosk_engine_set_redeem_timeout(KioskEngine *self, long timeout_ms)
{
  g_return_if_fail(KIOSK_IS_ENGINE(self) && timeout_ms >= 0 && timeout_ms <= G_MAXINT);
  g_atomic_int_set(&self->redeem_timeout_ms, (gint) timeout_ms);
}

void
kiosk_engine_sync_now(KioskEngine *self)
{
  g_return_if_fail(KIOSK_IS_ENGINE(self));
  kiosk_sync_worker_wake(self->worker);
}

static void
forget_in_pool(gpointer data, gpointer user_data)
{
  KioskEngine *self = data;
  detach_store(self);
}

gboolean
kiosk_engine_forget(KioskEngine *self, GError **error)
{
  g_return_val_if_fail(KIOSK_IS_ENGINE(self), FALSE);
  g_clear_pointer(&self->worker, kiosk_sync_worker_stop);
  /* Close the store on the engine thread after the requests already queued:
   * a one-off pool with the same single thread discipline. */
  g_thread_pool_free(self->pool, FALSE, TRUE);
  forget_in_pool(self, NULL);
  self->pool = g_thread_pool_new(pool_func, NULL, 1, TRUE, NULL);
  self->enrolled = FALSE;
  g_clear_pointer(&self->settings, g_hash_table_unref);
  self->settings = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
  gboolean ok = kiosk_store_wipe(self->data_dir, error);
  GK_LOG_INFO("kiosk.engine.forgotten", GK_BOOL("wiped", ok));
  set_online(self, FALSE, 0);
  return ok;
}

/* ---- getters ------------------------------------------------------------------------ */

gboolean
kiosk_engine_is_enrolled(KioskEngine *self)
{
  g_return_val_if_fail(KIOSK_IS_ENGINE(self), FALSE);
  return self->enrolled;
}

const char *
kiosk_engine_setting(KioskEngine *self, const char *key)
{
  g_return_val_if_fail(KIOSK_IS_ENGINE(self) && key != NULL, NULL);
  if (self->settings != NULL && g_hash_table_contains(self->settings, key))
    return g_hash_table_lookup(self->settings, key);
  const KioskSetting *s = kiosk_settings_find(key);
  return s != NULL ? s->fallback : NULL;
}

gint64
kiosk_engine_setting_int(KioskEngine *self, const char *key)
{
  const char *v = kiosk_engine_setting(self, key);
  gint64 n = 0;
  if (v == NULL || !g_ascii_string_to_signed(v, 10, G_MININT64, G_MAXINT64, &n, NULL))
    return 0;
  return n;
}

gboolean
kiosk_engine_setting_bool(KioskEngine *self, const char *key)
{
  return g_strcmp0(kiosk_engine_setting(self, key), "true") == 0;
}

const char *
kiosk_engine_mode(KioskEngine *self)
{
  g_return_val_if_fail(KIOSK_IS_ENGINE(self), "reception");
  return self->mode != NULL ? self->mode : "reception";
}

gboolean
kiosk_engine_online(KioskEngine *self)
{
  g_return_val_if_fail(KIOSK_IS_ENGINE(self), FALSE);
  return self->online;
}

gint64
kiosk_engine_queue_length(KioskEngine *self)
{
  g_return_val_if_fail(KIOSK_IS_ENGINE(self), 0);
  return self->queue_length;
}

/* ---- life cycle ----------------------------------------------------------------------- */

static void
kiosk_engine_dispose(GObject *object)
{
  KioskEngine *self = KIOSK_ENGINE(object);
  g_clear_pointer(&self->worker, kiosk_sync_worker_stop);
  if (self->pool != NULL) {
    /* Finish what was asked: an accepted scan must reach the store. */
    g_thread_pool_free(self->pool, FALSE, TRUE);
    self->pool = NULL;
  }
  G_OBJECT_CLASS(kiosk_engine_parent_class)->dispose(object);
}

static void
kiosk_engine_finalize(GObject *object)
{
  KioskEngine *self = KIOSK_ENGINE(object);
  detach_store(self);
  g_clear_pointer(&self->settings, g_hash_table_unref);
  g_clear_pointer(&self->main_context, g_main_context_unref);
  g_free(self->mode);
  g_free(self->data_dir);
  G_OBJECT_CLASS(kiosk_engine_parent_class)->finalize(object);
}

static void
kiosk_engine_class_init(KioskEngineClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  object_class->dispose = kiosk_engine_dispose;
  object_class->finalize = kiosk_engine_finalize;
  signals[SIGNAL_STATE_CHANGED] =
    g_signal_new("state-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_SETTINGS_CHANGED] =
    g_signal_new("settings-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                 G_TYPE_NONE, 0);
  signals[SIGNAL_REVOKED] =
    g_signal_new("revoked", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
kiosk_engine_init(KioskEngine *self)
{
}

KioskEngine *
kiosk_engine_new(const char *data_dir, double sync_interval_s, GError **error)
{
  g_return_val_if_fail(data_dir != NULL, NULL);
  g_autoptr(KioskEngine) self = g_object_new(KIOSK_TYPE_ENGINE, NULL);
  self->data_dir = g_strdup(data_dir);
  self->sync_interval_s = sync_interval_s;
  self->main_context = g_main_context_ref_thread_default();
  self->pool = g_thread_pool_new(pool_func, NULL, 1, TRUE, NULL);
  self->settings = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);

  g_autoptr(GError) local = NULL;
  KioskStore *store = kiosk_store_open(data_dir, &local);
  if (store == NULL && g_error_matches(local, KIOSK_STORE_ERROR, KIOSK_STORE_ERROR_NOT_ENROLLED))
    return g_steal_pointer(&self); /* first start: the enrollment screen */
  if (store == NULL) {
    g_propagate_error(error, g_steal_pointer(&local));
    return NULL;
  }
  /* Before any request exists, so the pool's thread is not using the store yet. */
  if (!attach_store(self, store, &local)) {
    kiosk_store_close(store);
    if (g_error_matches(local, KIOSK_STORE_ERROR, KIOSK_STORE_ERROR_NOT_ENROLLED))
      return g_steal_pointer(&self);
    g_propagate_error(error, g_steal_pointer(&local));
    return NULL;
  }
  self->enrolled = TRUE;
  g_autoptr(GHashTable) settings = read_settings(self->store);
  self->mode = effective_mode(self->store, &self->identity);
  apply_settings(self, settings);
  self->queue_length = kiosk_store_queue_length(self->store);
  self->online = TRUE;
  start_worker(self);
  return g_steal_pointer(&self);
}
