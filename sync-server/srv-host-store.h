/* Hosts' writes beyond srv-store.h's basics: add with a duplicate check and a
 * notification channel, partial edit, removal (a tombstone), and the CSV import
 * in one transaction. Every call is scoped to one site: a host of another site
 * is NOT_FOUND, like a missing one. */
#pragma once
#include <glib.h>

#include "srv-host-csv.h"
#include "srv-store.h"

/* A host's fields to write. For an edit, NULL leaves a field as it is and ""
 * clears it (name cannot be cleared); for an add, NULL and "" are "none". */
typedef struct {
  const char *name;
  const char *reading;
  const char *email;
  const char *department;
  const char *channel;  /* NULL: no change; else as srv_host_channel_parse() takes it */
} SrvHostFields;

/* What one write did. A webhook channel to a new endpoint gets a secret made by
 * the server, here in plain this once (the caller shows it and wipes it). */
typedef struct {
  guint line;        /* import: the CSV line; 0 otherwise */
  gint64 host_id;
  gboolean added;    /* FALSE: an existing host was updated */
  char *secret;      /* a new webhook secret, or NULL */
} SrvHostWritten;
void srv_host_written_clear(SrvHostWritten *w);

/* EXISTS when a live host of the site already has @fields->email (e-mail is
 * how an import recognises a host, so it is unique per site). */
gboolean srv_host_store_add(SrvStore *store, gint64 site_id, const SrvHostFields *fields, gint64 now,
                            SrvHostWritten *out, GError **error);
/* NOT_FOUND for no such live host on the site; EXISTS for a taken e-mail. */
gboolean srv_host_store_edit(SrvStore *store, gint64 site_id, gint64 host_id, const SrvHostFields *fields,
                             gint64 now, SrvHostWritten *out, GError **error);
/* Marks the host removed (devices learn it from the feed), clears its contact
 * data and notification setting, and blanks its name ("-") when no ticket or
 * visit names it. NOT_FOUND for no such live host on the site. */
gboolean srv_host_store_remove(SrvStore *store, gint64 site_id, gint64 host_id, gint64 now, GError **error);
/* Every row in one transaction: a live host with the row's e-mail is updated,
 * any other row adds a host. With @dry_run nothing is kept (and no secret is
 * made). *out_written: a GArray of SrvHostWritten, one per row. */
gboolean srv_host_store_import(SrvStore *store, gint64 site_id, GArray *rows, gboolean dry_run, gint64 now,
                               GArray **out_written, GError **error);
