/* Door output: the command hook (pulse in its environment, re-run instead of
 * overlap, failures and hangs reported, hangs killed), configuration errors,
 * the settings it reads, and GPIO: a clear error without a chip here, a real
 * pulse on a gpio-sim chip where the kernel offers one. */
#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "gk-test-util.h"
#include "kiosk-door.h"
#include "kiosk-settings.h"
#include "kiosk-store.h"

#define DEADLINE_MS 30000 /* a failure deadline, not a performance figure */

typedef struct {
  char *dir;
  char *log;   /* the hook appends here */
  guint done;
  GError *error;
  gint64 done_at;
} Fixture;

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
  fx->dir = gk_test_make_tmpdir("test-kiosk-door");
  fx->log = g_build_filename(fx->dir, "door.log", NULL);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
  g_clear_error(&fx->error);
  gk_test_rmtree(fx->dir);
  g_free(fx->dir);
  g_free(fx->log);
}

static void
on_done(const GError *error, gpointer data)
{
  Fixture *fx = data;
  fx->done++;
  fx->done_at = g_get_monotonic_time();
  g_clear_error(&fx->error);
  if (error != NULL)
    fx->error = g_error_copy(error);
}

static gboolean
wake(gpointer data)
{
  return G_SOURCE_CONTINUE;
}

/* Runs the main loop until @n done callbacks arrived or @deadline_ms passed. */
static gboolean
wait_done(Fixture *fx, guint n, guint deadline_ms)
{
  GSource *tick = g_timeout_source_new(5);
  g_source_set_callback(tick, wake, NULL, NULL);
  g_source_attach(tick, NULL);
  gint64 end = g_get_monotonic_time() + (gint64) deadline_ms * 1000;
  while (fx->done < n && g_get_monotonic_time() < end)
    g_main_context_iteration(NULL, TRUE);
  g_source_destroy(tick);
  g_source_unref(tick);
  return fx->done >= n;
}

static KioskDoor *
command_door(Fixture *fx, const char *script, guint pulse_ms)
{
  /* The hook is a shell script, but the door never runs a shell itself: the
   * argv is sh, -c, SCRIPT. */
  g_autofree char *quoted = g_shell_quote(script);
  g_autofree char *command = g_strdup_printf("/bin/sh -c %s", quoted);
  g_autoptr(GError) error = NULL;
  KioskDoor *door = kiosk_door_new(KIOSK_DOOR_COMMAND, command, pulse_ms, &error);
  g_assert_no_error(error);
  g_assert_nonnull(door);
  kiosk_door_set_done_func(door, on_done, fx, NULL);
  return door;
}

static char *
read_log(Fixture *fx)
{
  char *text = NULL;
  if (!g_file_get_contents(fx->log, &text, NULL, NULL))
    return g_strdup("");
  return text;
}

static void
test_command_pulse(Fixture *fx, gconstpointer data)
{
  g_autofree char *script = g_strdup_printf("echo \"pulse=$" KIOSK_DOOR_PULSE_ENV " args=$#\" >> '%s'", fx->log);
  g_autoptr(KioskDoor) door = command_door(fx, script, 300);
  g_assert_cmpint(kiosk_door_get_output(door), ==, KIOSK_DOOR_COMMAND);
  g_assert_false(kiosk_door_is_open(door));
  g_autoptr(GError) error = NULL;
  g_assert_true(kiosk_door_open(door, &error));
  g_assert_no_error(error);
  g_assert_true(kiosk_door_is_open(door)); /* returned at once, still running */
  g_assert_true(wait_done(fx, 1, DEADLINE_MS));
  g_assert_no_error(fx->error);
  g_assert_false(kiosk_door_is_open(door));
  g_autofree char *log = read_log(fx);
  g_assert_cmpstr(log, ==, "pulse=300 args=0\n");

  /* The setting is split like a shell would split it, quotes included, but
   * nothing in it is expanded: no shell ever sees it. (The sh below is the
   * hook itself; it prints its arguments untouched.) */
  g_autofree char *argv_log = g_build_filename(fx->dir, "argv", NULL);
  g_autofree char *command = g_strdup_printf(
      "/bin/sh -c 'printf \"%%s|\" \"$@\" > %s' hook 'a b' '$HOME' \"`id`\" ';' '*'", argv_log);
  g_autoptr(KioskDoor) door2 = kiosk_door_new(KIOSK_DOOR_COMMAND, command, 100, &error);
  g_assert_no_error(error);
  kiosk_door_set_done_func(door2, on_done, fx, NULL);
  g_assert_true(kiosk_door_open(door2, &error));
  g_assert_true(wait_done(fx, 2, DEADLINE_MS));
  g_assert_no_error(fx->error);
  g_autofree char *args = NULL;
  g_assert_true(g_file_get_contents(argv_log, &args, NULL, NULL));
  g_assert_cmpstr(args, ==, "a b|$HOME|`id`|;|*|");
}

/* Opens during a run: one more run right after it, never two at once and
 * never a queue of them; one done callback when the door is closed again. */
static void
test_command_rerun(Fixture *fx, gconstpointer data)
{
  g_autofree char *script = g_strdup_printf("echo start >> '%s'; sleep 0.3; echo end >> '%s'", fx->log, fx->log);
  g_autoptr(KioskDoor) door = command_door(fx, script, 200);
  for (guint i = 0; i < 4; i++) {
    g_autoptr(GError) error = NULL;
    g_assert_true(kiosk_door_open(door, &error));
    g_assert_no_error(error);
  }
  g_assert_true(wait_done(fx, 1, DEADLINE_MS));
  g_assert_no_error(fx->error);
  g_assert_false(kiosk_door_is_open(door));
  g_autofree char *log = read_log(fx);
  g_assert_cmpstr(log, ==, "start\nend\nstart\nend\n");
  g_assert_cmpuint(fx->done, ==, 1);
}

static void
test_command_fails(Fixture *fx, gconstpointer data)
{
  g_autoptr(KioskDoor) door = command_door(fx, "exit 3", 100);
  g_autoptr(GError) error = NULL;
  g_assert_true(kiosk_door_open(door, &error));
  g_assert_true(wait_done(fx, 1, DEADLINE_MS));
  g_assert_error(fx->error, KIOSK_DOOR_ERROR, KIOSK_DOOR_ERROR_COMMAND);
  g_assert_nonnull(strstr(fx->error->message, "exit status 3"));

  /* A program that does not exist: open() says so at once, no callback. */
  g_autoptr(KioskDoor) missing = kiosk_door_new(KIOSK_DOOR_COMMAND, "/nonexistent/open-door --now", 100, &error);
  g_assert_no_error(error);
  kiosk_door_set_done_func(missing, on_done, fx, NULL);
  g_assert_false(kiosk_door_open(missing, &error));
  g_assert_error(error, KIOSK_DOOR_ERROR, KIOSK_DOOR_ERROR_COMMAND);
  g_assert_false(kiosk_door_is_open(missing));
  g_assert_false(wait_done(fx, 2, 200));
}

static gboolean
process_gone(pid_t pid)
{
  return kill(pid, 0) != 0 && errno == ESRCH;
}

/* A hanging command is killed after the pulse + grace and reported. */
static void
test_command_hangs(Fixture *fx, gconstpointer data)
{
  g_autofree char *pidfile = g_build_filename(fx->dir, "pid", NULL);
  g_autofree char *script = g_strdup_printf("echo $$ > '%s'; exec sleep 60", pidfile);
  g_autoptr(KioskDoor) door = command_door(fx, script, 50);
  g_autoptr(GError) error = NULL;
  gint64 t0 = g_get_monotonic_time();
  g_assert_true(kiosk_door_open(door, &error));
  g_assert_true(wait_done(fx, 1, DEADLINE_MS));
  g_assert_error(fx->error, KIOSK_DOOR_ERROR, KIOSK_DOOR_ERROR_COMMAND);
  g_assert_nonnull(strstr(fx->error->message, "killed"));
  /* Not before its deadline (a lower bound: never flaky). */
  g_assert_cmpint(fx->done_at - t0, >=, (50 + KIOSK_DOOR_COMMAND_GRACE_MS) * 1000);
  g_autofree char *pid_text = NULL;
  g_assert_true(g_file_get_contents(pidfile, &pid_text, NULL, NULL));
  guint64 pid = 0;
  g_assert_true(g_ascii_string_to_unsigned(g_strstrip(pid_text), 10, 1, G_MAXINT, &pid, NULL));
  g_assert_true(process_gone((pid_t) pid));
  g_assert_false(kiosk_door_is_open(door));
}

/* Freed during a run: the command is killed, no callback comes. */
static void
test_free_while_running(Fixture *fx, gconstpointer data)
{
  g_autofree char *pidfile = g_build_filename(fx->dir, "pid", NULL);
  g_autofree char *script = g_strdup_printf("echo $$ > '%s'; exec sleep 60", pidfile);
  KioskDoor *door = command_door(fx, script, 1000);
  g_assert_true(kiosk_door_open(door, NULL));
  gint64 end = g_get_monotonic_time() + DEADLINE_MS * 1000;
  while (!g_file_test(pidfile, G_FILE_TEST_EXISTS) && g_get_monotonic_time() < end)
    g_usleep(10 * 1000);
  g_usleep(50 * 1000); /* the pid is written before exec */
  g_autofree char *pid_text = NULL;
  g_assert_true(g_file_get_contents(pidfile, &pid_text, NULL, NULL));
  guint64 pid = 0;
  g_assert_true(g_ascii_string_to_unsigned(g_strstrip(pid_text), 10, 1, G_MAXINT, &pid, NULL));
  kiosk_door_free(door);
  /* Reaped by GLib's child watch on the main context. */
  end = g_get_monotonic_time() + DEADLINE_MS * 1000;
  while (!process_gone((pid_t) pid) && g_get_monotonic_time() < end) {
    g_main_context_iteration(NULL, FALSE);
    g_usleep(5 * 1000);
  }
  g_assert_true(process_gone((pid_t) pid));
  g_assert_false(wait_done(fx, 1, 200));
}

static void
test_config_errors(Fixture *fx, gconstpointer data)
{
  struct {
    KioskDoorOutput output;
    const char *target;
    guint pulse;
    int code;
    const char *needle;
  } cases[] = {
    { KIOSK_DOOR_COMMAND, "echo 'unbalanced", 1000, KIOSK_DOOR_ERROR_CONFIG, "door-command" },
    { KIOSK_DOOR_COMMAND, "", 1000, KIOSK_DOOR_ERROR_CONFIG, "door-command" },
    { KIOSK_DOOR_COMMAND, NULL, 1000, KIOSK_DOOR_ERROR_CONFIG, "door-command" },
    { KIOSK_DOOR_COMMAND, "true", 10, KIOSK_DOOR_ERROR_CONFIG, "pulse" },
    { KIOSK_DOOR_COMMAND, "true", 10001, KIOSK_DOOR_ERROR_CONFIG, "pulse" },
    { KIOSK_DOOR_GPIO, NULL, 1000, KIOSK_DOOR_ERROR_CONFIG, "door-gpio" },
    { KIOSK_DOOR_GPIO, "gpiochip0", 1000, KIOSK_DOOR_ERROR_CONFIG, "CHIP:LINE" },
    { KIOSK_DOOR_GPIO, ":3", 1000, KIOSK_DOOR_ERROR_CONFIG, "CHIP:LINE" },
    { KIOSK_DOOR_GPIO, "gpiochip0:x", 1000, KIOSK_DOOR_ERROR_CONFIG, "CHIP:LINE" },
    { KIOSK_DOOR_GPIO, "gpiochip0:1024", 1000, KIOSK_DOOR_ERROR_CONFIG, "CHIP:LINE" },
    /* No such chip (there is none at all in most containers and CI). */
    { KIOSK_DOOR_GPIO, "gpiochip-genkan-none:17", 1000, KIOSK_DOOR_ERROR_GPIO, "gpiochip-genkan-none not found" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GError) error = NULL;
    g_assert_null(kiosk_door_new(cases[i].output, cases[i].target, cases[i].pulse, &error));
    g_assert_error(error, KIOSK_DOOR_ERROR, cases[i].code);
    g_test_message("%s: %s", cases[i].target != NULL ? cases[i].target : "(null)", error->message);
    g_assert_nonnull(strstr(error->message, cases[i].needle));
  }

  /* NONE: opening does nothing, successfully. */
  g_autoptr(GError) error = NULL;
  g_autoptr(KioskDoor) none = kiosk_door_new(KIOSK_DOOR_NONE, NULL, 0, &error);
  g_assert_no_error(error);
  kiosk_door_set_done_func(none, on_done, fx, NULL);
  g_assert_true(kiosk_door_open(none, &error));
  g_assert_false(kiosk_door_is_open(none));
  g_assert_false(wait_done(fx, 1, 100));
}

/* Without a GPIO chip on this machine, the first /dev/gpiochip path gives the
 * clear "not found" error the admin screen shows. */
static void
test_gpio_absent(Fixture *fx, gconstpointer data)
{
  if (g_file_test("/dev/gpiochip0", G_FILE_TEST_EXISTS)) {
    g_test_skip("this machine has /dev/gpiochip0");
    return;
  }
  const char *targets[] = { "gpiochip0:17", "/dev/gpiochip0:17", "0:17" };
  for (guint i = 0; i < G_N_ELEMENTS(targets); i++) {
    g_autoptr(GError) error = NULL;
    g_assert_null(kiosk_door_new(KIOSK_DOOR_GPIO, targets[i], 500, &error));
    g_assert_error(error, KIOSK_DOOR_ERROR, KIOSK_DOOR_ERROR_GPIO);
    g_test_message("%s: %s", targets[i], error->message);
    g_assert_nonnull(strstr(error->message, "not found"));
  }
}

/* ---- a real pulse on gpio-sim (Linux >= 5.17, configfs, root) ---- */

#define GPIO_SIM "/sys/kernel/config/gpio-sim"

static gboolean
write_text(const char *path, const char *text)
{
  return g_file_set_contents(path, text, -1, NULL);
}

static char *
read_text(const char *path)
{
  char *text = NULL;
  if (!g_file_get_contents(path, &text, NULL, NULL))
    return NULL;
  return g_strstrip(text);
}

static void
test_gpio_sim_pulse(Fixture *fx, gconstpointer data)
{
  if (!g_file_test(GPIO_SIM, G_FILE_TEST_IS_DIR)) {
    g_test_skip("no gpio-sim (needs the gpio-sim module and configfs)");
    return;
  }
  g_autofree char *sim = g_strdup_printf(GPIO_SIM "/genkan-test-%d", (int) getpid());
  g_autofree char *bank = g_build_filename(sim, "bank0", NULL);
  g_autofree char *lines = g_build_filename(bank, "num_lines", NULL);
  g_autofree char *live = g_build_filename(sim, "live", NULL);
  if (g_mkdir(sim, 0755) != 0 || g_mkdir(bank, 0755) != 0 || !write_text(lines, "8") || !write_text(live, "1")) {
    g_rmdir(bank);
    g_rmdir(sim);
    g_test_skip("cannot create a gpio-sim chip (not root?)");
    return;
  }
  g_autofree char *chip_attr = g_build_filename(bank, "chip_name", NULL);
  g_autofree char *dev_attr = g_build_filename(sim, "dev_name", NULL);
  g_autofree char *chip = read_text(chip_attr), *dev = read_text(dev_attr);
  g_assert_nonnull(chip);
  g_assert_nonnull(dev);
  g_autofree char *value = g_strdup_printf("/sys/devices/platform/%s/%s/sim_gpio3/value", dev, chip);
  g_autofree char *target = g_strdup_printf("%s:3", chip);

  {
    g_autoptr(GError) error = NULL;
    g_autoptr(KioskDoor) door = kiosk_door_new(KIOSK_DOOR_GPIO, target, 300, &error);
    g_assert_no_error(error);
    kiosk_door_set_done_func(door, on_done, fx, NULL);
    g_autofree char *before = read_text(value);
    g_assert_cmpstr(before, ==, "0");
    /* A second program cannot take the line while the door holds it. */
    g_autoptr(KioskDoor) second = kiosk_door_new(KIOSK_DOOR_GPIO, target, 300, &error);
    g_assert_null(second);
    g_assert_error(error, KIOSK_DOOR_ERROR, KIOSK_DOOR_ERROR_GPIO);
    g_clear_error(&error);

    g_assert_true(kiosk_door_open(door, &error));
    g_autofree char *high = read_text(value);
    g_assert_cmpstr(high, ==, "1");
    g_usleep(100 * 1000);
    gint64 again = g_get_monotonic_time();
    g_assert_true(kiosk_door_open(door, &error)); /* extends the pulse */
    g_assert_true(wait_done(fx, 1, DEADLINE_MS));
    g_assert_no_error(fx->error);
    g_assert_cmpint(fx->done_at - again, >=, 300 * 1000);
    g_autofree char *low = read_text(value);
    g_assert_cmpstr(low, ==, "0");
    g_assert_false(wait_done(fx, 2, 400)); /* one callback for the extended opening */
  }
  write_text(live, "0");
  g_rmdir(bank);
  g_rmdir(sim);
}

/* ---- settings ---- */

static void
test_from_settings(Fixture *fx, gconstpointer data)
{
  g_autofree char *store_dir = g_build_filename(fx->dir, "store", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(KioskStore) store = kiosk_store_create(store_dir, &error);
  g_assert_no_error(error);

  /* The default: no door output. */
  g_autoptr(KioskDoor) none = kiosk_door_new_from_settings(store, &error);
  g_assert_no_error(error);
  g_assert_cmpint(kiosk_door_get_output(none), ==, KIOSK_DOOR_NONE);

  g_autofree char *script = g_strdup_printf("/bin/sh -c 'echo $" KIOSK_DOOR_PULSE_ENV " > %s'", fx->log);
  g_autoptr(GHashTable) config = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g_hash_table_insert(config, g_strdup("door-output"), g_strdup("command"));
  g_hash_table_insert(config, g_strdup("door-command"), g_strdup(script));
  g_hash_table_insert(config, g_strdup("door-pulse-ms"), g_strdup("750"));
  KioskDeviceConfig device = { .config = config, .config_version = 1 };
  g_assert_true(kiosk_store_apply_device_config(store, &device, &error));
  g_assert_no_error(error);
  g_autoptr(KioskDoor) door = kiosk_door_new_from_settings(store, &error);
  g_assert_no_error(error);
  g_assert_cmpint(kiosk_door_get_output(door), ==, KIOSK_DOOR_COMMAND);
  kiosk_door_set_done_func(door, on_done, fx, NULL);
  g_assert_true(kiosk_door_open(door, &error));
  g_assert_true(wait_done(fx, 1, DEADLINE_MS));
  g_assert_no_error(fx->error);
  g_autofree char *log = read_log(fx);
  g_assert_cmpstr(log, ==, "750\n");

  /* gpio without door-gpio: a configuration error, not a crash. */
  g_hash_table_remove_all(config);
  g_hash_table_insert(config, g_strdup("door-output"), g_strdup("gpio"));
  device.config_version = 2;
  g_assert_true(kiosk_store_apply_device_config(store, &device, &error));
  g_assert_null(kiosk_door_new_from_settings(store, &error));
  g_assert_error(error, KIOSK_DOOR_ERROR, KIOSK_DOOR_ERROR_CONFIG);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("/kiosk/door/command-pulse", test_command_pulse);
  ADD("/kiosk/door/command-rerun", test_command_rerun);
  ADD("/kiosk/door/command-fails", test_command_fails);
  ADD("/kiosk/door/command-hangs", test_command_hangs);
  ADD("/kiosk/door/free-while-running", test_free_while_running);
  ADD("/kiosk/door/config-errors", test_config_errors);
  ADD("/kiosk/door/gpio-absent", test_gpio_absent);
  ADD("/kiosk/door/gpio-sim-pulse", test_gpio_sim_pulse);
  ADD("/kiosk/door/from-settings", test_from_settings);
#undef ADD
  return g_test_run();
}
