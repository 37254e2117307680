/* genkanctl, the admin command line, as a library: option parsing, the saved
 * session, HTTPS calls to the admin port (docs/protocol.md) and the output. */
#pragma once
#include <glib.h>

/* Exit statuses of srv_ctl_main(). */
enum {
  SRV_CTL_EXIT_OK = 0,
  SRV_CTL_EXIT_FAILURE = 1, /* the server refused, could not be reached, or an I/O error */
  SRV_CTL_EXIT_USAGE = 2,   /* bad command line or no server configured */
};

/* Runs one genkanctl command line. Writes results to stdout, messages to stderr;
 * never prints the session token or a password. */
int srv_ctl_main(int argc, char **argv);

/* ---- the saved session ----------------------------------------------------------
 * $XDG_CONFIG_HOME/genkan/session (default ~/.config/genkan/session): a key file
 * with mode 0600 in a 0700 directory, read only when nobody else could read it. */
typedef struct {
  char *server; /* normalised https://host[:port] */
  char *ca;     /* absolute path of the server's CA certificate, or NULL */
  char *user;
  char *token;  /* secret: zeroed by srv_ctl_session_clear() */
} SrvCtlSession;

/* The session file's path (g_free); reads $XDG_CONFIG_HOME on every call. */
char *srv_ctl_session_path(void);
gboolean srv_ctl_session_save(const SrvCtlSession *session, GError **error);
/* G_FILE_ERROR_NOENT when there is no session; G_FILE_ERROR_PERM when the file
 * is readable by others; G_KEY_FILE_ERROR when it is damaged. */
gboolean srv_ctl_session_load(SrvCtlSession *out, GError **error);
/* Removes the session file; no file is not an error. */
gboolean srv_ctl_session_delete(GError **error);
void srv_ctl_session_clear(SrvCtlSession *session);

/* ---- helpers the commands use, exposed for tests ---------------------------------- */
/* Accepts only https://host[:port][/] URLs without user info, query or fragment;
 * returns "https://host[:port]" (g_free). */
char *srv_ctl_normalize_server(const char *url, GError **error);
/* Unix seconds, ISO 8601 with Z or an offset, or a local "YYYY-MM-DD HH:MM[:SS]"
 * (also with 'T'). */
gboolean srv_ctl_parse_time(const char *text, gint64 *out_unix, GError **error);
/* Unix seconds → "2026-11-22T09:00:00Z" (g_free). */
char *srv_ctl_format_time(gint64 unix_seconds);
