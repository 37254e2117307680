/* The hosts CSV an admin imports (docs/hosts.md): UTF-8 with an optional BOM,
 * RFC 4180 quoting, LF or CRLF line ends, a header row naming the columns.
 * Parsing is I/O-free and checks every row, so an import can report every bad
 * row at once and store nothing when any is bad. */
#pragma once
#include <glib.h>

#define SRV_HOST_CSV_ERROR srv_host_csv_error_quark()
GQuark srv_host_csv_error_quark(void);
typedef enum {
  SRV_HOST_CSV_ERROR_MALFORMED, /* not CSV (quoting), or no usable header row */
} SrvHostCsvError;

/* Largest file the server takes (the import route's request body cap). */
#define SRV_HOST_CSV_MAX_BYTES ((gsize) 2 * 1024 * 1024)
/* Longest name, reading or department, in bytes. */
#define SRV_HOST_TEXT_MAX 200
#define SRV_HOST_EMAIL_MAX 254

/* One good data row. Absent columns and empty cells are NULL. */
typedef struct {
  guint line;        /* the physical line the record starts on (1: the header) */
  char *name;
  char *reading;
  char *email;
  char *department;
  char *channel;     /* as written; see srv_host_channel_parse() */
} SrvHostCsvRow;

/* One thing wrong with a row: the line it starts on, the column (its header
 * name, or its 1-based number when the row has more cells than the header) and
 * why, in words. A row may have several. */
typedef struct {
  guint line;
  char *column;
  char *reason;
} SrvHostCsvProblem;

typedef struct {
  GArray *rows;      /* SrvHostCsvRow, only when no row is bad */
  GArray *problems;  /* SrvHostCsvProblem, in line order */
} SrvHostCsv;
void srv_host_csv_clear(SrvHostCsv *csv);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(SrvHostCsv, srv_host_csv_clear)

/* Parses @data. FALSE and SRV_HOST_CSV_ERROR_MALFORMED (message with the line)
 * when the text is not CSV or the header is unusable (empty file, an unknown,
 * repeated or missing "name" column). Otherwise TRUE: *out has the rows, or,
 * when any row is bad, every problem of every row and no rows. Empty lines are
 * skipped. Columns: name (required), reading, email, department, channel, in
 * any order, case-insensitive. */
typedef enum {
  SRV_HOST_CSV_NONE = 0,
  SRV_HOST_CSV_NO_EMAIL = 1 << 0, /* the server has no SMTP relay: an email channel is a bad cell */
} SrvHostCsvFlags;
gboolean srv_host_csv_parse(const char *data, gsize len, SrvHostCsvFlags flags, SrvHostCsv *out, GError **error);

/* ---- field checks shared with the edit and add routes ---------------------------- */

/* A name, reading or department: printable UTF-8 (gk_visit_text_ok) of at most
 * SRV_HOST_TEXT_MAX bytes. */
gboolean srv_host_text_ok(const char *text, const char **why);
/* An e-mail address: local@domain, 3..254 bytes, no spaces, quotes, brackets or controls. */
gboolean srv_host_email_ok(const char *email, const char **why);

/* A host's notification channel as one text: "none", "email" (the host's own
 * address), "email:ADDRESS", "slack:URL", "teams:URL" or "webhook:URL" (URLs as
 * srv_notify_target_check() wants them). *out_channel and *out_target (NULL
 * when none) are the caller's to g_free. On FALSE, @error (SRV_HOST_CSV_ERROR)
 * says what is wrong. */
gboolean srv_host_channel_parse(const char *text, char **out_channel, char **out_target, GError **error);
