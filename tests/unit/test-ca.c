/* Tests of the device CA: CA creation, the server certificate's SAN/EKU, and device
 * certificates from good and hostile CSRs. */
#include "gk-test-util.h"
#include "srv-ca.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

/* DER of the extension OIDs 2.5.29.14 (SKI) and 2.5.29.35 (AKI). */
static const guint8 oid_ski[] = { 0x06, 0x03, 0x55, 0x1d, 0x0e };
static const guint8 oid_aki[] = { 0x06, 0x03, 0x55, 0x1d, 0x23 };

typedef struct {
  char *dir;
  SrvCa *ca;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  f->dir = gk_test_make_tmpdir("genkan-ca");
  g_autofree char *ca_dir = g_build_filename(f->dir, "ca", NULL);
  f->ca = srv_ca_create(ca_dir, "Genkan Test CA", &error);
  g_assert_no_error(error);
  g_assert_nonnull(f->ca);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  srv_ca_free(f->ca);
  gk_test_rmtree(f->dir);
  g_free(f->dir);
}

static void
parse_cert_file(mbedtls_x509_crt *crt, const char *path)
{
  mbedtls_x509_crt_init(crt);
  g_assert_cmpint(mbedtls_x509_crt_parse_file(crt, path), ==, 0);
}

static void
parse_cert_pem(mbedtls_x509_crt *crt, const char *pem)
{
  mbedtls_x509_crt_init(crt);
  g_assert_cmpint(mbedtls_x509_crt_parse(crt, (const unsigned char *) pem, strlen(pem) + 1), ==, 0);
}

static char *
dn_string(const mbedtls_x509_name *dn)
{
  char buf[512];
  g_assert_cmpint(mbedtls_x509_dn_gets(buf, sizeof buf, dn), >, 0);
  return g_strdup(buf);
}

static uint32_t
verify_against(const mbedtls_x509_crt *crt, const char *ca_path, const char *cn)
{
  mbedtls_x509_crt ca;
  uint32_t flags = 0;
  parse_cert_file(&ca, ca_path);
  (void) mbedtls_x509_crt_verify_with_profile((mbedtls_x509_crt *) crt, &ca, NULL,
                                              &mbedtls_x509_crt_profile_next, cn, &flags,
                                              NULL, NULL);
  mbedtls_x509_crt_free(&ca);
  return flags;
}

/* --- CA --------------------------------------------------------------------------- */

static void
test_create(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *ca_dir = g_build_filename(f->dir, "ca", NULL);
  g_autofree char *key_path = g_build_filename(ca_dir, SRV_CA_KEY_FILE, NULL);
  const char *cert_path = srv_ca_get_cert_path(f->ca);
  struct stat st;

  g_assert_cmpint(g_stat(key_path, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0600);
  g_assert_cmpint(g_stat(ca_dir, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0077, ==, 0);

  mbedtls_x509_crt crt;
  parse_cert_file(&crt, cert_path);
  g_assert_cmpint(crt.version, ==, 3);
  g_assert_cmpint(crt.ca_istrue, ==, 1);
  g_assert_cmpint(crt.max_pathlen, ==, 1); /* mbedTLS stores pathlen + 1 */
  g_assert_true(crt.ext_types & MBEDTLS_X509_EXT_KEY_USAGE);
  g_assert_cmpuint(crt.key_usage, ==, MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN);
  g_assert_cmpuint(crt.serial.len, ==, SRV_CA_SERIAL_LEN);
  g_assert_true(memmem(crt.raw.p, crt.raw.len, oid_ski, sizeof oid_ski) != NULL);
  g_assert_true(memmem(crt.raw.p, crt.raw.len, oid_aki, sizeof oid_aki) != NULL);
  g_assert_cmpint(mbedtls_pk_get_type(&crt.pk), ==, MBEDTLS_PK_ECKEY);
  g_assert_cmpint(mbedtls_pk_ec(crt.pk)->grp.id, ==, MBEDTLS_ECP_DP_SECP256R1);
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  g_assert_cmpint(crt.valid_to.year, >=, g_date_time_get_year(now) + 9);
  g_autofree char *subject = dn_string(&crt.subject);
  g_assert_cmpstr(subject, ==, "CN=Genkan Test CA, O=Genkan");
  /* Self-signed and accepted by the profile the TLS layer uses. */
  g_assert_cmpuint(verify_against(&crt, cert_path, NULL), ==, 0);
  mbedtls_x509_crt_free(&crt);

  /* A second CA in the same place is refused; the first stays intact. */
  SrvCa *again = srv_ca_create(ca_dir, "Other", &error);
  g_assert_null(again);
  g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST);
}

static void
test_open(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *ca_dir = g_build_filename(f->dir, "ca", NULL);
  g_autofree char *key_path = g_build_filename(ca_dir, SRV_CA_KEY_FILE, NULL);
  guint8 fp1[SRV_CA_FINGERPRINT_LEN], fp2[SRV_CA_FINGERPRINT_LEN];

  g_assert_true(srv_ca_fingerprint_sha256(srv_ca_get_cert_path(f->ca), fp1, &error));
  g_assert_no_error(error);
  SrvCa *ca = srv_ca_open(ca_dir, &error);
  g_assert_no_error(error);
  g_assert_nonnull(ca);
  g_assert_true(srv_ca_fingerprint_sha256(srv_ca_get_cert_path(ca), fp2, &error));
  g_assert_cmpmem(fp1, sizeof fp1, fp2, sizeof fp2);

  /* A reopened CA issues certificates that chain to the same ca.crt. */
  g_autofree char *key = NULL, *csr = NULL;
  g_assert_true(srv_ca_make_key_and_csr("kiosk", &key, &csr, &error));
  g_autofree char *pem = srv_ca_sign_device_csr(ca, (const guint8 *) csr, strlen(csr), "dev-1",
                                                30, NULL, &error);
  g_assert_no_error(error);
  mbedtls_x509_crt crt;
  parse_cert_pem(&crt, pem);
  g_assert_cmpuint(verify_against(&crt, srv_ca_get_cert_path(f->ca), NULL), ==, 0);
  mbedtls_x509_crt_free(&crt);
  memset(key, 0, strlen(key));
  srv_ca_free(ca);

  /* A CA key others may read is refused. */
  g_assert_cmpint(g_chmod(key_path, 0644), ==, 0);
  ca = srv_ca_open(ca_dir, &error);
  g_assert_null(ca);
  g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM);
  g_clear_error(&error);
  g_assert_cmpint(g_chmod(key_path, 0600), ==, 0);

  /* No CA at all. */
  g_autofree char *empty = g_build_filename(f->dir, "empty", NULL);
  ca = srv_ca_open(empty, &error);
  g_assert_null(ca);
  g_assert_error(error, SRV_CA_ERROR, SRV_CA_ERROR_BAD_CA);
}

static void
test_hex(void)
{
  static const guint8 bytes[] = { 0x00, 0xab, 0x7f, 0x10 };
  g_autofree char *hex = srv_ca_hex(bytes, sizeof bytes);
  g_assert_cmpstr(hex, ==, "00ab7f10");
  g_autofree char *empty = srv_ca_hex(bytes, 0);
  g_assert_cmpstr(empty, ==, "");
}

/* --- server certificate -------------------------------------------------------------- */

static gboolean
run_quiet(const char *const *argv)
{
  int status = 0;
  g_autoptr(GError) error = NULL;
  if (!g_spawn_sync(NULL, (char **) argv, NULL,
                    G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                    NULL, NULL, NULL, NULL, &status, &error))
    return FALSE;
  return g_spawn_check_wait_status(status, NULL);
}

static void
test_server_cert(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *cert_path = g_build_filename(f->dir, "server.crt", NULL);
  g_autofree char *key_path = g_build_filename(f->dir, "server.key", NULL);
  const char *const ips[] = { "127.0.0.1", "::1", NULL };
  static const guint8 ip4[] = { 0x87, 0x04, 127, 0, 0, 1 };
  static const guint8 ip6[] = { 0x87, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
  struct stat st;

  g_assert_true(srv_ca_issue_server_cert(f->ca, "localhost", ips, cert_path, key_path, &error));
  g_assert_no_error(error);
  g_assert_cmpint(g_stat(key_path, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0600);

  mbedtls_x509_crt crt;
  parse_cert_file(&crt, cert_path);
  g_assert_cmpint(crt.ca_istrue, ==, 0);
  g_assert_true(crt.ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME);
  g_assert_true(crt.ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE);
  g_assert_cmpint(mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_SERVER_AUTH,
                                                            MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)), ==, 0);
  g_assert_cmpint(mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_CLIENT_AUTH,
                                                            MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)), !=, 0);
  g_assert_cmpint(mbedtls_x509_crt_check_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE), ==, 0);
  /* mbedTLS lists dNSName entries; the IP entries are checked in the DER. */
  g_assert_nonnull(crt.subject_alt_names.buf.p);
  g_assert_cmpmem(crt.subject_alt_names.buf.p, crt.subject_alt_names.buf.len, "localhost", 9);
  g_assert_true(memmem(crt.raw.p, crt.raw.len, ip4, sizeof ip4) != NULL);
  g_assert_true(memmem(crt.raw.p, crt.raw.len, ip6, sizeof ip6) != NULL);
  g_assert_true(memmem(crt.raw.p, crt.raw.len, oid_ski, sizeof oid_ski) != NULL);
  g_assert_true(memmem(crt.raw.p, crt.raw.len, oid_aki, sizeof oid_aki) != NULL);
  g_assert_cmpuint(verify_against(&crt, srv_ca_get_cert_path(f->ca), "localhost"), ==, 0);
  g_assert_cmpuint(verify_against(&crt, srv_ca_get_cert_path(f->ca), "genkan.example") &
                   MBEDTLS_X509_BADCERT_CN_MISMATCH, !=, 0);
  mbedtls_x509_crt_free(&crt);

  /* OpenSSL (what libcurl on the kiosk uses) agrees on chain, purpose, name and IP. */
  g_autofree char *openssl = g_find_program_in_path("openssl");
  if (openssl != NULL) {
    const char *ok_argv[] = { "openssl", "verify", "-CAfile", srv_ca_get_cert_path(f->ca),
                              "-purpose", "sslserver", "-verify_hostname", "localhost",
                              "-verify_ip", "127.0.0.1", cert_path, NULL };
    g_assert_true(run_quiet(ok_argv));
    const char *ok6_argv[] = { "openssl", "verify", "-CAfile", srv_ca_get_cert_path(f->ca),
                               "-verify_ip", "::1", cert_path, NULL };
    g_assert_true(run_quiet(ok6_argv));
    const char *bad_ip_argv[] = { "openssl", "verify", "-CAfile", srv_ca_get_cert_path(f->ca),
                                  "-verify_ip", "127.0.0.2", cert_path, NULL };
    g_assert_false(run_quiet(bad_ip_argv));
    const char *bad_host_argv[] = { "openssl", "verify", "-CAfile", srv_ca_get_cert_path(f->ca),
                                    "-verify_hostname", "genkan.example", cert_path, NULL };
    g_assert_false(run_quiet(bad_host_argv));
    const char *client_argv[] = { "openssl", "verify", "-CAfile", srv_ca_get_cert_path(f->ca),
                                  "-purpose", "sslclient", cert_path, NULL };
    g_assert_false(run_quiet(client_argv));
  } else {
    g_test_message("openssl not installed: OpenSSL cross-check skipped");
  }

  /* Renewal replaces both files. */
  guint8 fp1[32], fp2[32];
  g_assert_true(srv_ca_fingerprint_sha256(cert_path, fp1, &error));
  g_assert_true(srv_ca_issue_server_cert(f->ca, "localhost", NULL, cert_path, key_path, &error));
  g_assert_no_error(error);
  g_assert_true(srv_ca_fingerprint_sha256(cert_path, fp2, &error));
  g_assert_true(memcmp(fp1, fp2, sizeof fp1) != 0);
}

static void
test_invalid_args(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *cert_path = g_build_filename(f->dir, "server.crt", NULL);
  g_autofree char *key_path = g_build_filename(f->dir, "server.key", NULL);
  const char *const bad_ips[] = { "127.0.0.1", "300.1.1.1", NULL };
  static const char *const bad_hosts[] = { "", "bad host", "a,CN=evil", ".lead", "trail.", "-x", NULL };

  for (guint i = 0; bad_hosts[i] != NULL; i++) {
    g_assert_false(srv_ca_issue_server_cert(f->ca, bad_hosts[i], NULL, cert_path, key_path, &error));
    g_assert_error(error, SRV_CA_ERROR, SRV_CA_ERROR_INVALID);
    g_clear_error(&error);
  }
  g_assert_false(srv_ca_issue_server_cert(f->ca, "localhost", bad_ips, cert_path, key_path, &error));
  g_assert_error(error, SRV_CA_ERROR, SRV_CA_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_false(g_file_test(cert_path, G_FILE_TEST_EXISTS));
  g_assert_false(g_file_test(key_path, G_FILE_TEST_EXISTS));

  g_autofree char *key = NULL, *csr = NULL;
  g_assert_true(srv_ca_make_key_and_csr("kiosk", &key, &csr, &error));
  static const char *const bad_ids[] = { "", "dev 1", "dev,O=admin", "dev=1", "dev\n1",
                                         "0123456789012345678901234567890123456789012345678901234567890123456789", NULL };
  for (guint i = 0; bad_ids[i] != NULL; i++) {
    char *pem = srv_ca_sign_device_csr(f->ca, (const guint8 *) csr, strlen(csr), bad_ids[i], 30,
                                       NULL, &error);
    g_assert_null(pem);
    g_assert_error(error, SRV_CA_ERROR, SRV_CA_ERROR_INVALID);
    g_clear_error(&error);
  }
  const guint bad_days[] = { 0, SRV_CA_DEVICE_CERT_DAYS_MAX + 1 };
  for (guint i = 0; i < G_N_ELEMENTS(bad_days); i++) {
    char *pem = srv_ca_sign_device_csr(f->ca, (const guint8 *) csr, strlen(csr), "dev-1",
                                       bad_days[i], NULL, &error);
    g_assert_null(pem);
    g_assert_error(error, SRV_CA_ERROR, SRV_CA_ERROR_INVALID);
    g_clear_error(&error);
  }
  g_assert_null(srv_ca_create(f->dir, "bad,name", &error));
  g_assert_error(error, SRV_CA_ERROR, SRV_CA_ERROR_INVALID);
  memset(key, 0, strlen(key));
}

/* --- device certificates ---------------------------------------------------------------- */

static void
test_device_cert(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *key = NULL, *csr = NULL;
  guint8 serial[SRV_CA_SERIAL_LEN], serial2[SRV_CA_SERIAL_LEN];

  g_assert_true(srv_ca_make_key_and_csr("requested-name", &key, &csr, &error));
  g_assert_no_error(error);
  g_autofree char *pem = srv_ca_sign_device_csr(f->ca, (const guint8 *) csr, strlen(csr),
                                                "dev-0001", 30, serial, &error);
  g_assert_no_error(error);
  g_assert_nonnull(pem);

  mbedtls_x509_crt crt;
  parse_cert_pem(&crt, pem);
  g_autofree char *subject = dn_string(&crt.subject);
  g_assert_cmpstr(subject, ==, "CN=dev-0001, O=genkan device");
  g_assert_null(strstr(pem, "requested-name"));
  g_assert_cmpint(crt.ca_istrue, ==, 0);
  g_assert_true(crt.ext_types & MBEDTLS_X509_EXT_BASIC_CONSTRAINTS);
  g_assert_cmpint(mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_CLIENT_AUTH,
                                                            MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)), ==, 0);
  g_assert_cmpint(mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_SERVER_AUTH,
                                                            MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)), !=, 0);
  g_assert_cmpuint(crt.key_usage, ==, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
  g_assert_cmpmem(crt.serial.p, crt.serial.len, serial, sizeof serial);
  g_assert_cmpuint(serial[0] & 0xc0, ==, 0x40);
  g_assert_cmpuint(verify_against(&crt, srv_ca_get_cert_path(f->ca), NULL), ==, 0);

  /* Validity: from about an hour ago to 30 days ahead. */
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  g_autoptr(GDateTime) to = g_date_time_new_utc(crt.valid_to.year, crt.valid_to.mon,
                                                crt.valid_to.day, crt.valid_to.hour,
                                                crt.valid_to.min, crt.valid_to.sec);
  GTimeSpan span = g_date_time_difference(to, now);
  g_assert_cmpint(span, >, 30 * G_TIME_SPAN_DAY - G_TIME_SPAN_MINUTE);
  g_assert_cmpint(span, <, 30 * G_TIME_SPAN_DAY + G_TIME_SPAN_MINUTE);
  g_assert_false(mbedtls_x509_time_is_future(&crt.valid_from));

  /* The certificate is for the CSR's key. */
  mbedtls_pk_context pk;
  mbedtls_pk_init(&pk);
  g_assert_cmpint(mbedtls_pk_parse_key(&pk, (const unsigned char *) key, strlen(key) + 1, NULL, 0), ==, 0);
  g_assert_cmpint(mbedtls_pk_check_pair(&crt.pk, &pk), ==, 0);
  mbedtls_pk_free(&pk);

  /* DER CSRs work too, and every certificate gets a new serial. */
  mbedtls_x509_csr req;
  mbedtls_x509_csr_init(&req);
  g_assert_cmpint(mbedtls_x509_csr_parse(&req, (const unsigned char *) csr, strlen(csr) + 1), ==, 0);
  g_autofree char *pem2 = srv_ca_sign_device_csr(f->ca, req.raw.p, req.raw.len, "dev-0001", 30,
                                                 serial2, &error);
  g_assert_no_error(error);
  g_assert_true(g_str_has_prefix(pem2, "-----BEGIN CERTIFICATE-----"));
  g_assert_true(memcmp(serial, serial2, sizeof serial) != 0);
  mbedtls_x509_csr_free(&req);
  mbedtls_x509_crt_free(&crt);
  memset(key, 0, strlen(key));
}

/* Builds a CSR in DER with whatever key, subject and extensions a hostile client picks. */
static GBytes *
make_csr_der(mbedtls_pk_context *key, const char *subject, gboolean hostile_extensions)
{
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_x509write_csr req;
  unsigned char buf[4096];
  /* basicConstraints CA:TRUE */
  static const unsigned char ca_true[] = { 0x30, 0x03, 0x01, 0x01, 0xff };

  mbedtls_entropy_init(&entropy);
  mbedtls_ctr_drbg_init(&drbg);
  mbedtls_x509write_csr_init(&req);
  g_assert_cmpint(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0), ==, 0);
  g_assert_cmpint(mbedtls_x509write_csr_set_subject_name(&req, subject), ==, 0);
  mbedtls_x509write_csr_set_key(&req, key);
  mbedtls_x509write_csr_set_md_alg(&req, MBEDTLS_MD_SHA256);
  if (hostile_extensions) {
    g_assert_cmpint(mbedtls_x509write_csr_set_key_usage(&req, MBEDTLS_X509_KU_KEY_CERT_SIGN), ==, 0);
    g_assert_cmpint(mbedtls_x509write_csr_set_ns_cert_type(&req, MBEDTLS_X509_NS_CERT_TYPE_SSL_CA), ==, 0);
    g_assert_cmpint(mbedtls_x509write_csr_set_extension(&req, MBEDTLS_OID_BASIC_CONSTRAINTS,
                                                        MBEDTLS_OID_SIZE(MBEDTLS_OID_BASIC_CONSTRAINTS),
                                                        ca_true, sizeof ca_true), ==, 0);
  }
  int len = mbedtls_x509write_csr_der(&req, buf, sizeof buf, mbedtls_ctr_drbg_random, &drbg);
  g_assert_cmpint(len, >, 0);
  GBytes *der = g_bytes_new(buf + sizeof buf - len, (gsize) len);
  mbedtls_x509write_csr_free(&req);
  mbedtls_ctr_drbg_free(&drbg);
  mbedtls_entropy_free(&entropy);
  return der;
}

static void
gen_key(mbedtls_pk_context *key, mbedtls_pk_type_t type, int param)
{
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_entropy_init(&entropy);
  mbedtls_ctr_drbg_init(&drbg);
  mbedtls_pk_init(key);
  g_assert_cmpint(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0), ==, 0);
  g_assert_cmpint(mbedtls_pk_setup(key, mbedtls_pk_info_from_type(type)), ==, 0);
  if (type == MBEDTLS_PK_RSA)
    g_assert_cmpint(mbedtls_rsa_gen_key(mbedtls_pk_rsa(*key), mbedtls_ctr_drbg_random, &drbg,
                                        (unsigned) param, 65537), ==, 0);
  else
    g_assert_cmpint(mbedtls_ecp_gen_key((mbedtls_ecp_group_id) param, mbedtls_pk_ec(*key),
                                        mbedtls_ctr_drbg_random, &drbg), ==, 0);
  mbedtls_ctr_drbg_free(&drbg);
  mbedtls_entropy_free(&entropy);
}

static void
test_csr_hostile(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  mbedtls_pk_context key;
  gen_key(&key, MBEDTLS_PK_ECKEY, MBEDTLS_ECP_DP_SECP256R1);
  g_autoptr(GBytes) der = make_csr_der(&key, "CN=admin,O=Genkan,OU=root", TRUE);
  gsize len;
  const guint8 *p = g_bytes_get_data(der, &len);

  g_autofree char *pem = srv_ca_sign_device_csr(f->ca, p, len, "dev-7", 7, NULL, &error);
  g_assert_no_error(error);
  mbedtls_x509_crt crt;
  parse_cert_pem(&crt, pem);
  g_autofree char *subject = dn_string(&crt.subject);
  g_assert_cmpstr(subject, ==, "CN=dev-7, O=genkan device");
  g_assert_cmpint(crt.ca_istrue, ==, 0);
  g_assert_cmpuint(crt.key_usage, ==, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
  g_assert_false(crt.ext_types & MBEDTLS_X509_EXT_NS_CERT_TYPE);
  g_assert_cmpint(mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_CLIENT_AUTH,
                                                            MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)), ==, 0);
  mbedtls_x509_crt_free(&crt);
  mbedtls_pk_free(&key);
}

static void
test_csr_bad_signature(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  mbedtls_pk_context key;
  gen_key(&key, MBEDTLS_PK_ECKEY, MBEDTLS_ECP_DP_SECP256R1);
  g_autoptr(GBytes) der = make_csr_der(&key, "CN=kiosk-aaaa", FALSE);
  gsize len = 0;
  const guint8 *orig = g_bytes_get_data(der, &len);
  guint8 *copy = g_memdup2(orig, len);

  /* Change the signed subject: the CSR still parses, only its signature is wrong. */
  guint8 *name = memmem(copy, len, "kiosk-aaaa", 10);
  g_assert_nonnull(name);
  name[9] = 'b';
  mbedtls_x509_csr parsed;
  mbedtls_x509_csr_init(&parsed);
  g_assert_cmpint(mbedtls_x509_csr_parse_der(&parsed, copy, len), ==, 0);
  mbedtls_x509_csr_free(&parsed);

  char *pem = srv_ca_sign_device_csr(f->ca, copy, len, "dev-1", 30, NULL, &error);
  g_assert_null(pem);
  g_assert_error(error, SRV_CA_ERROR, SRV_CA_ERROR_BAD_CSR);
  g_clear_error(&error);

  /* A flipped bit in the signature itself. */
  name[9] = 'a';
  copy[len - 3] ^= 0x01;
  pem = srv_ca_sign_device_csr(f->ca, copy, len, "dev-1", 30, NULL, &error);
  g_assert_null(pem);
  g_assert_error(error, SRV_CA_ERROR, SRV_CA_ERROR_BAD_CSR);
  g_free(copy);
  mbedtls_pk_free(&key);
}

static void
test_csr_wrong_key(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  struct {
    mbedtls_pk_type_t type;
    int param;
  } keys[] = {
    { MBEDTLS_PK_RSA, 1024 }, /* the type is what matters; small keeps the test quick */
    { MBEDTLS_PK_ECKEY, MBEDTLS_ECP_DP_SECP384R1 },
    { MBEDTLS_PK_ECKEY, MBEDTLS_ECP_DP_SECP256K1 },
  };
  for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
    mbedtls_pk_context key;
    gen_key(&key, keys[i].type, keys[i].param);
    g_autoptr(GBytes) der = make_csr_der(&key, "CN=kiosk", FALSE);
    gsize len;
    const guint8 *p = g_bytes_get_data(der, &len);
    char *pem = srv_ca_sign_device_csr(f->ca, p, len, "dev-1", 30, NULL, &error);
    g_assert_null(pem);
    g_assert_error(error, SRV_CA_ERROR, SRV_CA_ERROR_BAD_KEY);
    g_clear_error(&error);
    mbedtls_pk_free(&key);
  }
}

static void
test_csr_garbage(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *key = NULL, *csr = NULL;
  guint8 junk[512];

  g_assert_true(srv_ca_make_key_and_csr("kiosk", &key, &csr, &error));
  memset(key, 0, strlen(key));
  for (gsize i = 0; i < sizeof junk; i++)
    junk[i] = (guint8) g_test_rand_int_range(0, 256);
  junk[0] = 0x30;

  struct {
    const guint8 *data;
    size_t len;
  } cases[] = {
    { junk, sizeof junk },
    { (const guint8 *) csr, strlen(csr) / 2 },                 /* truncated PEM */
    { (const guint8 *) "-----BEGIN", 10 },
    { (const guint8 *) csr, 1 },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    char *pem = srv_ca_sign_device_csr(f->ca, cases[i].data, cases[i].len, "dev-1", 30, NULL, &error);
    g_assert_null(pem);
    g_assert_error(error, SRV_CA_ERROR, SRV_CA_ERROR_BAD_CSR);
    g_clear_error(&error);
  }
  /* Oversized input is refused before parsing. */
  g_autofree guint8 *big = g_malloc0(SRV_CA_CSR_MAX + 1);
  char *pem = srv_ca_sign_device_csr(f->ca, big, SRV_CA_CSR_MAX + 1, "dev-1", 30, NULL, &error);
  g_assert_null(pem);
  g_assert_error(error, SRV_CA_ERROR, SRV_CA_ERROR_BAD_CSR);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/server/ca/hex", test_hex);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("/server/ca/create", test_create);
  ADD("/server/ca/open", test_open);
  ADD("/server/ca/server-cert", test_server_cert);
  ADD("/server/ca/invalid-args", test_invalid_args);
  ADD("/server/ca/device-cert", test_device_cert);
  ADD("/server/ca/csr-hostile", test_csr_hostile);
  ADD("/server/ca/csr-bad-signature", test_csr_bad_signature);
  ADD("/server/ca/csr-wrong-key", test_csr_wrong_key);
  ADD("/server/ca/csr-garbage", test_csr_garbage);
#undef ADD
  return g_test_run();
}
