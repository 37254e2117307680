/* Password hashing, verification, policy and generation. */
#include <string.h>

#include "gk-password.h"

static void
test_hash_verify(void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *hash = gk_password_hash("Corr3ct-Horse", &error);
  g_assert_no_error(error);
  g_assert_true(g_str_has_prefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$"));
  g_assert_null(strstr(hash, "Corr3ct-Horse"));
  g_assert_true(gk_password_verify(hash, "Corr3ct-Horse"));
  g_assert_false(gk_password_verify(hash, "corr3ct-Horse"));
  g_assert_false(gk_password_verify(hash, ""));
  g_assert_false(gk_password_verify("plain-text", "plain-text"));
  g_assert_false(gk_password_verify("$argon2id$garbage", "x"));
  g_assert_false(gk_password_verify(NULL, "x"));

  g_autofree char *again = gk_password_hash("Corr3ct-Horse", &error);
  g_assert_cmpstr(hash, !=, again); /* fresh salt each time */
}

static void
test_policy(void)
{
  static const char *const good[] = { "Abcdefg1", "abcdefg1!", "ABCDEFG1!", "aB!aB!aB", "Passw0rd-with-many-chars" };
  static const char *const bad[] = { "Ab1!", "abcdefgh", "abcdefg1", "ABCDEFGH!", "Abcdefg\303\2511" /* é then 1 */, "Abcdefg1\n" };
  for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
    g_autoptr(GError) error = NULL;
    if (!gk_password_check_policy(good[i], &error))
      g_error("'%s' refused: %s", good[i], error->message);
  }
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    g_assert_false(gk_password_check_policy(bad[i], &error));
    g_assert_error(error, GK_PASSWORD_ERROR, GK_PASSWORD_ERROR_POLICY);
  }
  g_autofree char *long_pw = g_strnfill(129, 'a');
  long_pw[0] = 'A';
  long_pw[1] = '1';
  g_assert_false(gk_password_check_policy(long_pw, NULL));
  long_pw[128] = '\0';
  g_assert_true(gk_password_check_policy(long_pw, NULL));
}

static void
test_generate(void)
{
  g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  for (int i = 0; i < 200; i++) {
    char *pw = gk_password_generate(16);
    g_assert_cmpuint(strlen(pw), ==, 16);
    g_assert_true(gk_password_check_policy(pw, NULL));
    g_assert_null(strpbrk(pw, "0O1lI"));
    g_assert_true(g_hash_table_add(seen, pw));
  }
  g_autofree char *min = gk_password_generate(3);
  g_assert_cmpuint(strlen(min), ==, 12);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/shared/password/hash-verify", test_hash_verify);
  g_test_add_func("/shared/password/policy", test_policy);
  g_test_add_func("/shared/password/generate", test_generate);
  return g_test_run();
}
