/* kiosk_ui_run(): gettext set-up (the catalogue next to the build, or the
 * installed one) and the application. */
#include "kiosk-ui.h"

#include <glib/gi18n-lib.h>
#include <libintl.h>
#include <locale.h>

#include <gtk/gtk.h>

#include "kiosk-app.h"

/* GNU gettext caches translations; bumping this makes it look again after
 * LANGUAGE changed (the documented way for programs that switch at run time). */
extern int _nl_msg_cat_cntr;

static const char *
locale_dir(void)
{
  const char *env = g_getenv("GENKAN_LOCALEDIR");
  if (env != NULL && *env != '\0')
    return env;
  if (g_file_test(KIOSK_BUILD_LOCALEDIR, G_FILE_TEST_IS_DIR))
    return KIOSK_BUILD_LOCALEDIR;
  return KIOSK_INSTALL_LOCALEDIR;
}

void
kiosk_ui_set_language(const char *language)
{
  g_setenv("LANGUAGE", g_strcmp0(language, "ja") == 0 ? "ja" : "en", TRUE);
  ++_nl_msg_cat_cntr;
}

int
kiosk_ui_run(const KioskUiOptions *options)
{
  /* The kiosk draws with cairo: without this GDK still loads an OpenGL stack
   * (Mesa, LLVM) it never uses, about half of the app's memory (measured by
   * tests/bench/bench-kiosk-ui.c). GENKAN_KIOSK_GL=1, a set GDK_DEBUG or
   * another GSK_RENDERER keep OpenGL. */
  const char *renderer = g_getenv("GSK_RENDERER");
  if (g_getenv("GDK_DEBUG") == NULL && g_getenv("GENKAN_KIOSK_GL") == NULL &&
      (renderer == NULL || g_strcmp0(renderer, "cairo") == 0)) {
    g_setenv("GDK_DEBUG", "gl-disable", TRUE);
    g_setenv("GSK_RENDERER", "cairo", TRUE);
  }
  /* gettext ignores LANGUAGE in the "C" locale: use its UTF-8 twin. */
  const char *messages = setlocale(LC_MESSAGES, NULL);
  if (messages == NULL || g_strcmp0(messages, "C") == 0 || g_strcmp0(messages, "POSIX") == 0)
    setlocale(LC_ALL, "C.UTF-8");
  /* GTK would call setlocale(LC_ALL, "") again and undo that. */
  gtk_disable_setlocale();
  bindtextdomain(GETTEXT_PACKAGE, locale_dir());
  bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
  /* No textdomain(): every lookup names its domain (gi18n-lib.h, the .ui
   * files), and with a default domain set GLib's g_dgettext() decides once,
   * at GTK's start, whether to translate at all (before our LANGUAGE is set). */

  g_autoptr(KioskApp) app = kiosk_app_new(options);
  char *argv[] = { (char *) "genkan-kiosk", NULL };
  int rc = g_application_run(G_APPLICATION(app), 1, argv);
  return rc != 0 ? rc : kiosk_app_get_status(app);
}
