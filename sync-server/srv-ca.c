/* The device CA on mbedTLS 2.28: CA creation, the server certificate (with a
 * subjectAltName we encode ourselves) and device certificates from checked CSRs. */
#include "srv-ca.h"

#include "gk-secure-file.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#if MBEDTLS_VERSION_NUMBER < 0x021C0000 || MBEDTLS_VERSION_NUMBER >= 0x03000000
#error "srv-ca.c is written for mbedTLS 2.28 (3.x can write SAN and EKU itself)"
#endif

#define KEY_FILE_MAX (16 * 1024)
/* A P-256 certificate with our extensions is under 1 KiB of DER. */
#define CERT_PEM_MAX 4096
#define KEY_PEM_MAX 2048
#define CA_ORG "Genkan"
#define DEVICE_ORG "genkan device"
/* Certificates start an hour in the past: kiosks with a slow clock must not see a
 * certificate that is not valid yet. */
#define BACKDATE_SECONDS 3600

struct SrvCa {
  char *cert_path;
  char *issuer_name; /* the CA subject as an mbedTLS name string */
  GMutex lock;       /* serializes the DRBG and key use of concurrent issuers */
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_pk_context key;
  mbedtls_x509_crt crt;
};

G_DEFINE_QUARK(srv-ca-error-quark, srv_ca_error)

static gboolean
set_mbed_error(GError **error, SrvCaError code, int ret, const char *what)
{
  char msg[128];
  mbedtls_strerror(ret, msg, sizeof msg);
  g_set_error(error, SRV_CA_ERROR, code, "%s: %s (-0x%04x)", what, msg, (unsigned) -ret);
  return FALSE;
}

/* Names go into "CN=...,O=..." strings that mbedTLS parses: allowing only these
 * characters means no input can add or change an attribute. */
static gboolean
name_is_valid(const char *name, gboolean allow_space)
{
  size_t len = name ? strlen(name) : 0;
  if (len == 0 || len > SRV_CA_NAME_MAX)
    return FALSE;
  for (size_t i = 0; i < len; i++) {
    char c = name[i];
    if (!(g_ascii_isalnum(c) || c == '.' || c == '_' || c == '-' || (allow_space && c == ' ')))
      return FALSE;
  }
  return name[0] != ' ' && name[len - 1] != ' ';
}

static gboolean
hostname_is_valid(const char *host)
{
  size_t len = host ? strlen(host) : 0;
  if (len == 0 || len > 253 || host[0] == '.' || host[0] == '-' || host[len - 1] == '.')
    return FALSE;
  for (size_t i = 0; i < len; i++) {
    if (!(g_ascii_isalnum(host[i]) || host[i] == '.' || host[i] == '-'))
      return FALSE;
  }
  return TRUE;
}

/* Validity strings as mbedTLS wants them: UTC, YYYYMMDDhhmmss. */
static gboolean
format_validity(GDateTime *from, GDateTime *to, char not_before[16], char not_after[16])
{
  g_autofree char *a = g_date_time_format(from, "%Y%m%d%H%M%S");
  g_autofree char *b = g_date_time_format(to, "%Y%m%d%H%M%S");
  if (a == NULL || b == NULL || strlen(a) != 14 || strlen(b) != 14)
    return FALSE;
  memcpy(not_before, a, 15);
  memcpy(not_after, b, 15);
  return TRUE;
}

static int
random_serial(mbedtls_ctr_drbg_context *drbg, mbedtls_mpi *serial, guint8 out[SRV_CA_SERIAL_LEN])
{
  guint8 buf[SRV_CA_SERIAL_LEN];
  int ret = mbedtls_ctr_drbg_random(drbg, buf, sizeof buf);
  if (ret != 0)
    return ret;
  /* Positive, and never a leading zero byte: the DER content is always these 16. */
  buf[0] = (guint8) ((buf[0] & 0x7f) | 0x40);
  ret = mbedtls_mpi_read_binary(serial, buf, sizeof buf);
  if (ret == 0 && out != NULL)
    memcpy(out, buf, sizeof buf);
  return ret;
}

static int
gen_p256_key(mbedtls_pk_context *key, mbedtls_ctr_drbg_context *drbg)
{
  int ret = mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
  if (ret != 0)
    return ret;
  return mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*key),
                             mbedtls_ctr_drbg_random, drbg);
}

/* Writes a private key PEM through gk_secure_file_write (0600, atomic). */
static gboolean
write_key_file(mbedtls_pk_context *key, const char *path, gboolean exclusive, GError **error)
{
  unsigned char pem[KEY_PEM_MAX];
  int ret = mbedtls_pk_write_key_pem(key, pem, sizeof pem);
  gboolean ok = FALSE;
  if (ret != 0)
    set_mbed_error(error, SRV_CA_ERROR_CRYPTO, ret, "cannot encode key");
  else
    ok = gk_secure_file_write(path, pem, strlen((char *) pem), exclusive, error);
  mbedtls_platform_zeroize(pem, sizeof pem);
  return ok;
}

static gboolean
write_public_file(const char *path, const char *data, GError **error)
{
  /* Certificates are public; 0644 so other services (a reverse proxy) may read them. */
  return g_file_set_contents_full(path, data, -1,
                                  G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                  0644, error);
}

/* extendedKeyUsage with one purpose: SEQUENCE { OID }. mbedTLS 2.28 cannot write it. */
static int
set_ext_key_usage(mbedtls_x509write_cert *crt, const char *oid, size_t oid_len)
{
  unsigned char buf[32];
  unsigned char *p = buf + sizeof buf;
  size_t len = 0;
  int ret;
  MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_oid(&p, buf, oid, oid_len));
  MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(&p, buf, len));
  MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
  return mbedtls_x509write_crt_set_extension(crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                             MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE),
                                             0, p, len);
}

/* One GeneralName with an IMPLICIT context tag: [2] dNSName, [7] iPAddress. */
static int
write_general_name(unsigned char **p, unsigned char *start, unsigned char tag,
                   const unsigned char *data, size_t data_len)
{
  size_t len = 0;
  int ret;
  MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_raw_buffer(p, start, data, data_len));
  MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(p, start, len));
  MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(p, start, MBEDTLS_ASN1_CONTEXT_SPECIFIC | tag));
  return (int) len;
}

/* subjectAltName (RFC 5280 4.2.1.6): mbedTLS 2.28's writer has no API for it, so
 * encode GeneralNames here. Entries are written last-first (ASN.1 writes backwards). */
static gboolean
set_subject_alt_name(mbedtls_x509write_cert *crt, const char *hostname,
                     const char *const *ip_list, GError **error)
{
  unsigned char buf[1024];
  unsigned char *p = buf + sizeof buf;
  size_t len = 0;
  int ret = 0;
  guint n_ips = ip_list ? g_strv_length((char **) ip_list) : 0;

  if (n_ips > 16) {
    g_set_error(error, SRV_CA_ERROR, SRV_CA_ERROR_INVALID, "too many IP addresses");
    return FALSE;
  }
  for (guint i = n_ips; i-- > 0;) {
    unsigned char addr[16];
    size_t addr_len;
    if (inet_pton(AF_INET, ip_list[i], addr) == 1) {
      addr_len = 4;
    } else if (inet_pton(AF_INET6, ip_list[i], addr) == 1) {
      addr_len = 16;
    } else {
      g_set_error(error, SRV_CA_ERROR, SRV_CA_ERROR_INVALID, "not an IP address: %s", ip_list[i]);
      return FALSE;
    }
    ret = write_general_name(&p, buf, 7, addr, addr_len);
    if (ret < 0)
      goto fail;
    len += (size_t) ret;
  }
  ret = write_general_name(&p, buf, 2, (const unsigned char *) hostname, strlen(hostname));
  if (ret < 0)
    goto fail;
  len += (size_t) ret;
  ret = mbedtls_asn1_write_len(&p, buf, len);
  if (ret < 0)
    goto fail;
  len += (size_t) ret;
  ret = mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
  if (ret < 0)
    goto fail;
  len += (size_t) ret;
  /* Not critical: the subject DN is not empty (RFC 5280 4.2.1.6). */
  ret = mbedtls_x509write_crt_set_extension(crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                            MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME),
                                            0, p, len);
  if (ret == 0)
    return TRUE;
fail:
  return set_mbed_error(error, SRV_CA_ERROR_CRYPTO, ret, "cannot encode subjectAltName");
}

/* --- CA ------------------------------------------------------------------------- */

static SrvCa *
ca_alloc(void)
{
  SrvCa *ca = g_new0(SrvCa, 1);
  g_mutex_init(&ca->lock);
  mbedtls_entropy_init(&ca->entropy);
  mbedtls_ctr_drbg_init(&ca->drbg);
  mbedtls_pk_init(&ca->key);
  mbedtls_x509_crt_init(&ca->crt);
  return ca;
}

void
srv_ca_free(SrvCa *ca)
{
  if (ca == NULL)
    return;
  mbedtls_x509_crt_free(&ca->crt);
  mbedtls_pk_free(&ca->key);
  mbedtls_ctr_drbg_free(&ca->drbg);
  mbedtls_entropy_free(&ca->entropy);
  g_mutex_clear(&ca->lock);
  g_free(ca->issuer_name);
  g_free(ca->cert_path);
  g_free(ca);
}

static gboolean
ca_seed(SrvCa *ca, GError **error)
{
  static const char pers[] = "genkan-srv-ca";
  int ret = mbedtls_ctr_drbg_seed(&ca->drbg, mbedtls_entropy_func, &ca->entropy,
                                  (const unsigned char *) pers, sizeof pers - 1);
  if (ret != 0)
    return set_mbed_error(error, SRV_CA_ERROR_CRYPTO, ret, "cannot seed the DRBG");
  return TRUE;
}

const char *
srv_ca_get_cert_path(const SrvCa *ca)
{
  g_return_val_if_fail(ca != NULL, NULL);
  return ca->cert_path;
}

/* Signs @crt (subject, key, serial, validity and extensions already set) with the
 * CA key and returns its PEM. Call with ca->lock held. */
static char *
ca_sign(SrvCa *ca, mbedtls_x509write_cert *crt, GError **error)
{
  unsigned char pem[CERT_PEM_MAX];
  int ret;

  mbedtls_x509write_crt_set_version(crt, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(crt, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_issuer_key(crt, &ca->key);
  ret = mbedtls_x509write_crt_set_issuer_name(crt, ca->issuer_name);
  if (ret == 0)
    ret = mbedtls_x509write_crt_set_subject_key_identifier(crt);
  if (ret == 0)
    ret = mbedtls_x509write_crt_set_authority_key_identifier(crt);
  if (ret == 0)
    ret = mbedtls_x509write_crt_pem(crt, pem, sizeof pem, mbedtls_ctr_drbg_random, &ca->drbg);
  if (ret != 0) {
    set_mbed_error(error, SRV_CA_ERROR_CRYPTO, ret, "cannot sign certificate");
    return NULL;
  }
  return g_strdup((const char *) pem);
}

/* Checks that a certificate we just made chains to the CA under the same profile
 * the TLS layer uses, so a mistake here shows up at issuance, not at a gate. */
static gboolean
ca_check_issued(SrvCa *ca, const char *pem, GError **error)
{
  mbedtls_x509_crt issued;
  uint32_t flags = 0;
  int ret;

  mbedtls_x509_crt_init(&issued);
  ret = mbedtls_x509_crt_parse(&issued, (const unsigned char *) pem, strlen(pem) + 1);
  if (ret == 0)
    ret = mbedtls_x509_crt_verify_with_profile(&issued, &ca->crt, NULL,
                                               &mbedtls_x509_crt_profile_next, NULL, &flags,
                                               NULL, NULL);
  mbedtls_x509_crt_free(&issued);
  if (ret != 0) {
    g_set_error(error, SRV_CA_ERROR, SRV_CA_ERROR_CRYPTO,
                "issued certificate does not verify (-0x%04x, flags 0x%x)", (unsigned) -ret, flags);
    return FALSE;
  }
  return TRUE;
}

SrvCa *
srv_ca_create(const char *dir, const char *common_name, GError **error)
{
  g_return_val_if_fail(dir != NULL, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);

  SrvCa *ca = ca_alloc();
  mbedtls_x509write_cert crt;
  mbedtls_mpi serial;
  g_autofree char *key_path = g_build_filename(dir, SRV_CA_KEY_FILE, NULL);
  g_autofree char *subject = NULL;
  g_autofree char *pem = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  g_autoptr(GDateTime) from = g_date_time_add_seconds(now, -BACKDATE_SECONDS);
  g_autoptr(GDateTime) to = g_date_time_add_years(now, SRV_CA_CA_CERT_YEARS);
  char not_before[16], not_after[16];
  gboolean ok = FALSE;
  int ret;

  mbedtls_x509write_crt_init(&crt);
  mbedtls_mpi_init(&serial);
  ca->cert_path = g_build_filename(dir, SRV_CA_CERT_FILE, NULL);

  if (!name_is_valid(common_name, TRUE)) {
    g_set_error(error, SRV_CA_ERROR, SRV_CA_ERROR_INVALID, "invalid CA name");
    goto out;
  }
  if (g_file_test(ca->cert_path, G_FILE_TEST_EXISTS) || g_file_test(key_path, G_FILE_TEST_EXISTS)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST, "a CA already exists in %s", dir);
    goto out;
  }
  if (g_mkdir_with_parents(dir, 0700) != 0) {
    int saved = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(saved), "cannot create %s: %s",
                dir, g_strerror(saved));
    goto out;
  }
  if (!ca_seed(ca, error))
    goto out;
  ret = gen_p256_key(&ca->key, &ca->drbg);
  if (ret != 0) {
    set_mbed_error(error, SRV_CA_ERROR_CRYPTO, ret, "cannot generate CA key");
    goto out;
  }

  subject = g_strdup_printf("CN=%s,O=%s", common_name, CA_ORG);
  ca->issuer_name = g_strdup(subject);
  if (!format_validity(from, to, not_before, not_after)) {
    g_set_error(error, SRV_CA_ERROR, SRV_CA_ERROR_INVALID, "cannot format validity");
    goto out;
  }
  mbedtls_x509write_crt_set_subject_key(&crt, &ca->key);
  ret = random_serial(&ca->drbg, &serial, NULL);
  if (ret == 0)
    ret = mbedtls_x509write_crt_set_serial(&crt, &serial);
  if (ret == 0)
    ret = mbedtls_x509write_crt_set_subject_name(&crt, subject);
  if (ret == 0)
    ret = mbedtls_x509write_crt_set_validity(&crt, not_before, not_after);
  /* pathlen 0: this CA signs devices and the server, never another CA. */
  if (ret == 0)
    ret = mbedtls_x509write_crt_set_basic_constraints(&crt, 1, 0);
  if (ret == 0)
    ret = mbedtls_x509write_crt_set_key_usage(&crt, MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN);
  if (ret != 0) {
    set_mbed_error(error, SRV_CA_ERROR_CRYPTO, ret, "cannot build CA certificate");
    goto out;
  }
  pem = ca_sign(ca, &crt, error);
  if (pem == NULL)
    goto out;
  ret = mbedtls_x509_crt_parse(&ca->crt, (const unsigned char *) pem, strlen(pem) + 1);
  if (ret != 0) {
    set_mbed_error(error, SRV_CA_ERROR_CRYPTO, ret, "cannot parse the new CA certificate");
    goto out;
  }
  /* Key first, exclusively: two racing creators cannot both end up with a CA. */
  if (!write_key_file(&ca->key, key_path, TRUE, error))
    goto out;
  if (!write_public_file(ca->cert_path, pem, error))
    goto out;
  ok = TRUE;
out:
  mbedtls_mpi_free(&serial);
  mbedtls_x509write_crt_free(&crt);
  if (!ok) {
    srv_ca_free(ca);
    return NULL;
  }
  return ca;
}

/* The CA's CN from its certificate, checked like a new CA name so the issuer string
 * we rebuild from it means the same. */
static char *
ca_common_name(const mbedtls_x509_crt *crt)
{
  for (const mbedtls_x509_name *n = &crt->subject; n != NULL; n = n->next) {
    if (n->oid.p != NULL && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0) {
      char *cn = g_strndup((const char *) n->val.p, n->val.len);
      if (strlen(cn) == n->val.len && name_is_valid(cn, TRUE))
        return cn;
      g_free(cn);
      return NULL;
    }
  }
  return NULL;
}

SrvCa *
srv_ca_open(const char *dir, GError **error)
{
  g_return_val_if_fail(dir != NULL, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);

  SrvCa *ca = ca_alloc();
  g_autofree char *key_path = g_build_filename(dir, SRV_CA_KEY_FILE, NULL);
  g_autofree char *cn = NULL;
  guint8 *key_pem = NULL;
  gsize key_len = 0;
  gboolean ok = FALSE;
  int ret;

  ca->cert_path = g_build_filename(dir, SRV_CA_CERT_FILE, NULL);
  ret = mbedtls_x509_crt_parse_file(&ca->crt, ca->cert_path);
  if (ret != 0) {
    set_mbed_error(error, SRV_CA_ERROR_BAD_CA, ret, "cannot read the CA certificate");
    goto out;
  }
  cn = ca_common_name(&ca->crt);
  if (ca->crt.next != NULL || ca->crt.ca_istrue == 0 || cn == NULL) {
    g_set_error(error, SRV_CA_ERROR, SRV_CA_ERROR_BAD_CA,
                "%s is not a single Genkan CA certificate", ca->cert_path);
    goto out;
  }
  ca->issuer_name = g_strdup_printf("CN=%s,O=%s", cn, CA_ORG);
  if (!gk_secure_file_read(key_path, KEY_FILE_MAX, &key_pem, &key_len, error))
    goto out;
  ret = mbedtls_pk_parse_key(&ca->key, key_pem, key_len + 1, NULL, 0);
  gk_secure_free(key_pem, key_len + 1);
  if (ret != 0) {
    set_mbed_error(error, SRV_CA_ERROR_BAD_CA, ret, "cannot parse the CA key");
    goto out;
  }
  ret = mbedtls_pk_check_pair(&ca->crt.pk, &ca->key);
  if (ret != 0) {
    set_mbed_error(error, SRV_CA_ERROR_BAD_CA, ret, "the CA key does not match ca.crt");
    goto out;
  }
  if (!ca_seed(ca, error))
    goto out;
  ok = TRUE;
out:
  if (!ok) {
    srv_ca_free(ca);
    return NULL;
  }
  return ca;
}

/* --- server certificate ---------------------------------------------------------- */

/* What every leaf certificate this CA issues has in common: a fresh random
 * serial (@serial_out: its bytes, may be NULL), the subject, the validity,
 * CA:FALSE, digitalSignature only (ECDHE-ECDSA keys only sign the key
 * exchange), and one extended key usage. Returns an mbedTLS error code. */
static int
set_leaf_fields(SrvCa *ca, mbedtls_x509write_cert *crt, mbedtls_mpi *serial, guint8 serial_out[SRV_CA_SERIAL_LEN],
                const char *subject, const char *not_before, const char *not_after, const char *eku_oid,
                size_t eku_len)
{
  int ret = random_serial(&ca->drbg, serial, serial_out);
  if (ret == 0)
    ret = mbedtls_x509write_crt_set_serial(crt, serial);
  if (ret == 0)
    ret = mbedtls_x509write_crt_set_subject_name(crt, subject);
  if (ret == 0)
    ret = mbedtls_x509write_crt_set_validity(crt, not_before, not_after);
  if (ret == 0)
    ret = mbedtls_x509write_crt_set_basic_constraints(crt, 0, -1);
  if (ret == 0)
    ret = mbedtls_x509write_crt_set_key_usage(crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
  if (ret == 0)
    ret = set_ext_key_usage(crt, eku_oid, eku_len);
  return ret;
}

gboolean
srv_ca_issue_server_cert(SrvCa *ca, const char *hostname, const char *const *ip_list,
                         const char *out_cert_path, const char *out_key_path, GError **error)
{
  g_return_val_if_fail(ca != NULL && out_cert_path != NULL && out_key_path != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

  mbedtls_x509write_cert crt;
  mbedtls_pk_context key;
  mbedtls_mpi serial;
  g_autofree char *subject = NULL;
  g_autofree char *pem = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  g_autoptr(GDateTime) from = g_date_time_add_seconds(now, -BACKDATE_SECONDS);
  g_autoptr(GDateTime) to = g_date_time_add_days(now, SRV_CA_SERVER_CERT_DAYS);
  char not_before[16], not_after[16];
  gboolean ok = FALSE;
  int ret;

  mbedtls_x509write_crt_init(&crt);
  mbedtls_pk_init(&key);
  mbedtls_mpi_init(&serial);
  g_mutex_lock(&ca->lock);

  if (!hostname_is_valid(hostname)) {
    g_set_error(error, SRV_CA_ERROR, SRV_CA_ERROR_INVALID, "invalid host name");
    goto out;
  }
  if (!format_validity(from, to, not_before, not_after)) {
    g_set_error(error, SRV_CA_ERROR, SRV_CA_ERROR_INVALID, "cannot format validity");
    goto out;
  }
  ret = gen_p256_key(&key, &ca->drbg);
  if (ret != 0) {
    set_mbed_error(error, SRV_CA_ERROR_CRYPTO, ret, "cannot generate server key");
    goto out;
  }
  subject = g_strdup_printf("CN=%s,O=%s", hostname, CA_ORG);
  mbedtls_x509write_crt_set_subject_key(&crt, &key);
  ret = set_leaf_fields(ca, &crt, &serial, NULL, subject, not_before, not_after, MBEDTLS_OID_SERVER_AUTH,
                        MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH));
  if (ret != 0) {
    set_mbed_error(error, SRV_CA_ERROR_CRYPTO, ret, "cannot build server certificate");
    goto out;
  }
  if (!set_subject_alt_name(&crt, hostname, ip_list, error))
    goto out;
  pem = ca_sign(ca, &crt, error);
  if (pem == NULL || !ca_check_issued(ca, pem, error))
    goto out;
  /* Key before certificate: a crash in between leaves a key without a matching
   * certificate, which srv_tls refuses loudly, never a mismatched pair silently. */
  if (!write_key_file(&key, out_key_path, FALSE, error))
    goto out;
  if (!write_public_file(out_cert_path, pem, error))
    goto out;
  ok = TRUE;
out:
  g_mutex_unlock(&ca->lock);
  mbedtls_mpi_free(&serial);
  mbedtls_pk_free(&key);
  mbedtls_x509write_crt_free(&crt);
  return ok;
}

/* --- device certificates ----------------------------------------------------------- */

/* mbedtls_x509_csr_parse checks the structure only: prove the requester holds the
 * key by verifying the CSR's signature over its CertificationRequestInfo. */
static gboolean
csr_check(const mbedtls_x509_csr *csr, GError **error)
{
  unsigned char hash[MBEDTLS_MD_MAX_SIZE];
  const mbedtls_md_info_t *md = mbedtls_md_info_from_type(csr->sig_md);
  int ret;

  if (csr->sig_md != MBEDTLS_MD_SHA256 && csr->sig_md != MBEDTLS_MD_SHA384 &&
      csr->sig_md != MBEDTLS_MD_SHA512) {
    g_set_error(error, SRV_CA_ERROR, SRV_CA_ERROR_BAD_CSR, "CSR signature hash not accepted");
    return FALSE;
  }
  if (mbedtls_pk_get_type(&csr->pk) != MBEDTLS_PK_ECKEY ||
      mbedtls_pk_ec(csr->pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
    g_set_error(error, SRV_CA_ERROR, SRV_CA_ERROR_BAD_KEY, "CSR key is not EC P-256");
    return FALSE;
  }
  if (csr->sig_pk != MBEDTLS_PK_ECDSA || md == NULL) {
    g_set_error(error, SRV_CA_ERROR, SRV_CA_ERROR_BAD_CSR, "CSR is not signed with ECDSA");
    return FALSE;
  }
  ret = mbedtls_md(md, csr->cri.p, csr->cri.len, hash);
  if (ret == 0)
    ret = mbedtls_pk_verify_ext(csr->sig_pk, csr->sig_opts, (mbedtls_pk_context *) &csr->pk,
                                csr->sig_md, hash, mbedtls_md_get_size(md), csr->sig.p,
                                csr->sig.len);
  if (ret != 0)
    return set_mbed_error(error, SRV_CA_ERROR_BAD_CSR, ret, "CSR signature does not verify");
  return TRUE;
}

static int
csr_parse(mbedtls_x509_csr *csr, const guint8 *data, size_t len)
{
  static const char pem_begin[] = "-----BEGIN";
  if (len >= sizeof pem_begin - 1 && memcmp(data, pem_begin, sizeof pem_begin - 1) == 0) {
    /* mbedTLS wants PEM NUL-terminated with the NUL counted. */
    g_autofree guint8 *copy = g_malloc(len + 1);
    memcpy(copy, data, len);
    copy[len] = 0;
    return mbedtls_x509_csr_parse(csr, copy, len + 1);
  }
  return mbedtls_x509_csr_parse_der(csr, data, len);
}

char *
srv_ca_sign_device_csr(SrvCa *ca, const guint8 *csr_data, size_t len, const char *device_id,
                       guint validity_days, guint8 out_serial[SRV_CA_SERIAL_LEN], GError **error)
{
  g_return_val_if_fail(ca != NULL, NULL);
  g_return_val_if_fail(csr_data != NULL || len == 0, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);

  mbedtls_x509_csr csr;
  mbedtls_x509write_cert crt;
  mbedtls_mpi serial;
  guint8 serial_bytes[SRV_CA_SERIAL_LEN];
  g_autofree char *subject = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  g_autoptr(GDateTime) from = g_date_time_add_seconds(now, -BACKDATE_SECONDS);
  g_autoptr(GDateTime) to = NULL;
  char not_before[16], not_after[16];
  char *pem = NULL;
  gboolean ok = FALSE;
  int ret;

  mbedtls_x509_csr_init(&csr);
  mbedtls_x509write_crt_init(&crt);
  mbedtls_mpi_init(&serial);
  g_mutex_lock(&ca->lock);

  if (!name_is_valid(device_id, FALSE)) {
    g_set_error(error, SRV_CA_ERROR, SRV_CA_ERROR_INVALID, "invalid device id");
    goto out;
  }
  if (validity_days < 1 || validity_days > SRV_CA_DEVICE_CERT_DAYS_MAX) {
    g_set_error(error, SRV_CA_ERROR, SRV_CA_ERROR_INVALID, "validity must be 1..%d days",
                SRV_CA_DEVICE_CERT_DAYS_MAX);
    goto out;
  }
  if (len == 0 || len > SRV_CA_CSR_MAX) {
    g_set_error(error, SRV_CA_ERROR, SRV_CA_ERROR_BAD_CSR, "CSR size out of range");
    goto out;
  }
  ret = csr_parse(&csr, csr_data, len);
  if (ret != 0) {
    set_mbed_error(error, SRV_CA_ERROR_BAD_CSR, ret, "cannot parse CSR");
    goto out;
  }
  if (!csr_check(&csr, error))
    goto out;

  to = g_date_time_add_days(now, (gint) validity_days);
  if (!format_validity(from, to, not_before, not_after)) {
    g_set_error(error, SRV_CA_ERROR, SRV_CA_ERROR_INVALID, "cannot format validity");
    goto out;
  }
  /* Only the CSR's key is used; its subject and extensions are the device's wishes,
   * and the server decides what a device certificate says. */
  subject = g_strdup_printf("CN=%s,O=%s", device_id, DEVICE_ORG);
  mbedtls_x509write_crt_set_subject_key(&crt, &csr.pk);
  ret = set_leaf_fields(ca, &crt, &serial, serial_bytes, subject, not_before, not_after, MBEDTLS_OID_CLIENT_AUTH,
                        MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
  if (ret != 0) {
    set_mbed_error(error, SRV_CA_ERROR_CRYPTO, ret, "cannot build device certificate");
    goto out;
  }
  pem = ca_sign(ca, &crt, error);
  if (pem == NULL || !ca_check_issued(ca, pem, error))
    goto out;
  if (out_serial != NULL)
    memcpy(out_serial, serial_bytes, sizeof serial_bytes);
  ok = TRUE;
out:
  g_mutex_unlock(&ca->lock);
  mbedtls_mpi_free(&serial);
  mbedtls_x509write_crt_free(&crt);
  mbedtls_x509_csr_free(&csr);
  if (!ok) {
    g_free(pem);
    return NULL;
  }
  return pem;
}

/* --- fingerprints -------------------------------------------------------------------- */

gboolean
srv_ca_fingerprint_sha256(const char *cert_pem_path, guint8 out[SRV_CA_FINGERPRINT_LEN],
                          GError **error)
{
  g_return_val_if_fail(cert_pem_path != NULL && out != NULL, FALSE);
  mbedtls_x509_crt crt;
  mbedtls_x509_crt_init(&crt);
  int ret = mbedtls_x509_crt_parse_file(&crt, cert_pem_path);
  if (ret == 0)
    ret = mbedtls_sha256_ret(crt.raw.p, crt.raw.len, out, 0);
  mbedtls_x509_crt_free(&crt);
  if (ret != 0)
    return set_mbed_error(error, SRV_CA_ERROR_BAD_CA, ret, "cannot fingerprint certificate");
  return TRUE;
}

char *
srv_ca_hex(const guint8 *data, size_t len)
{
  static const char digits[] = "0123456789abcdef";
  g_return_val_if_fail(data != NULL || len == 0, NULL);
  char *out = g_malloc(len * 2 + 1);
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 0x0f];
  }
  out[len * 2] = 0;
  return out;
}

/* --- test helper: what a kiosk does at enrollment ------------------------------------- */

gboolean
srv_ca_make_key_and_csr(const char *common_name, char **out_key_pem, char **out_csr_pem,
                        GError **error)
{
  g_return_val_if_fail(common_name != NULL && out_key_pem != NULL && out_csr_pem != NULL, FALSE);
  static const char pers[] = "genkan-srv-ca-csr";
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_pk_context key;
  mbedtls_x509write_csr req;
  unsigned char key_pem[KEY_PEM_MAX];
  unsigned char csr_pem[CERT_PEM_MAX];
  g_autofree char *subject = NULL;
  gboolean ok = FALSE;
  int ret;

  mbedtls_entropy_init(&entropy);
  mbedtls_ctr_drbg_init(&drbg);
  mbedtls_pk_init(&key);
  mbedtls_x509write_csr_init(&req);
  memset(key_pem, 0, sizeof key_pem);

  if (!name_is_valid(common_name, TRUE)) {
    g_set_error(error, SRV_CA_ERROR, SRV_CA_ERROR_INVALID, "invalid common name");
    goto out;
  }
  subject = g_strdup_printf("CN=%s", common_name);
  ret = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
                              (const unsigned char *) pers, sizeof pers - 1);
  if (ret == 0)
    ret = gen_p256_key(&key, &drbg);
  if (ret == 0)
    ret = mbedtls_x509write_csr_set_subject_name(&req, subject);
  if (ret == 0) {
    mbedtls_x509write_csr_set_key(&req, &key);
    mbedtls_x509write_csr_set_md_alg(&req, MBEDTLS_MD_SHA256);
    ret = mbedtls_x509write_csr_pem(&req, csr_pem, sizeof csr_pem, mbedtls_ctr_drbg_random, &drbg);
  }
  if (ret == 0)
    ret = mbedtls_pk_write_key_pem(&key, key_pem, sizeof key_pem);
  if (ret != 0) {
    set_mbed_error(error, SRV_CA_ERROR_CRYPTO, ret, "cannot make key and CSR");
    goto out;
  }
  *out_key_pem = g_strdup((const char *) key_pem);
  *out_csr_pem = g_strdup((const char *) csr_pem);
  ok = TRUE;
out:
  mbedtls_platform_zeroize(key_pem, sizeof key_pem);
  mbedtls_x509write_csr_free(&req);
  mbedtls_pk_free(&key);
  mbedtls_ctr_drbg_free(&drbg);
  mbedtls_entropy_free(&entropy);
  return ok;
}
