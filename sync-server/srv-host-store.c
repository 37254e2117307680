/* Hosts' store calls: argument checks at the API boundary and dispatch to the
 * store's backend. */
#include "srv-host-store-private.h"

#include <sodium.h>
#include <string.h>

#include "srv-store-private.h"

#define CHECK_STORE(ret)                                                      \
  do {                                                                        \
    g_return_val_if_fail(store != NULL && store->ops->hosts != NULL, ret);    \
    g_return_val_if_fail(error == NULL || *error == NULL, ret);               \
  } while (0)

#define OPS (store->ops->hosts)

void
srv_host_written_clear(SrvHostWritten *w)
{
  if (w == NULL)
    return;
  if (w->secret != NULL)
    sodium_memzero(w->secret, strlen(w->secret));
  g_clear_pointer(&w->secret, g_free);
}

gboolean
srv_host_store_add(SrvStore *store, gint64 site_id, const SrvHostFields *fields, gint64 now, SrvHostWritten *out,
                   GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(fields != NULL && fields->name != NULL && out != NULL, FALSE);
  memset(out, 0, sizeof *out);
  return OPS->add(store->backend, site_id, fields, now, out, error);
}

gboolean
srv_host_store_edit(SrvStore *store, gint64 site_id, gint64 host_id, const SrvHostFields *fields, gint64 now,
                    SrvHostWritten *out, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(fields != NULL && out != NULL, FALSE);
  memset(out, 0, sizeof *out);
  return OPS->edit(store->backend, site_id, host_id, fields, now, out, error);
}

gboolean
srv_host_store_remove(SrvStore *store, gint64 site_id, gint64 host_id, gint64 now, GError **error)
{
  CHECK_STORE(FALSE);
  return OPS->remove(store->backend, site_id, host_id, now, error);
}

gboolean
srv_host_store_import(SrvStore *store, gint64 site_id, GArray *rows, gboolean dry_run, gint64 now,
                      GArray **out_written, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(rows != NULL && out_written != NULL, FALSE);
  GArray *written = g_array_new(FALSE, TRUE, sizeof(SrvHostWritten));
  g_array_set_clear_func(written, (GDestroyNotify) srv_host_written_clear);
  if (!OPS->import(store->backend, site_id, rows, dry_run, now, written, error)) {
    g_array_unref(written);
    *out_written = NULL;
    return FALSE;
  }
  *out_written = written;
  return TRUE;
}
