/* The device certificate authority: the CA key and certificate, the server's TLS
 * certificate, device certificates signed from enrollment CSRs (ECDSA P-256). */
#pragma once
#include <glib.h>
#include <stddef.h>

#define SRV_CA_ERROR (srv_ca_error_quark())
GQuark srv_ca_error_quark(void);

typedef enum {
  SRV_CA_ERROR_INVALID,  /* bad argument: name, host, IP, validity */
  SRV_CA_ERROR_BAD_CSR,  /* CSR does not parse, or its signature does not verify */
  SRV_CA_ERROR_BAD_KEY,  /* CSR key is not EC P-256 */
  SRV_CA_ERROR_BAD_CA,   /* CA files missing, unreadable or not a CA */
  SRV_CA_ERROR_CRYPTO,   /* mbedTLS failed (RNG, signing, encoding) */
} SrvCaError;

/* File names inside the CA directory. The key is mode 0600. */
#define SRV_CA_CERT_FILE "ca.crt"
#define SRV_CA_KEY_FILE "ca.key"

/* Serials are 16 random bytes, first byte 0x40..0x7f: positive, fixed length, no
 * leading zero, so these bytes are exactly what srv_tls reports for a peer. */
#define SRV_CA_SERIAL_LEN 16
#define SRV_CA_FINGERPRINT_LEN 32
#define SRV_CA_CA_CERT_YEARS 10
#define SRV_CA_SERVER_CERT_DAYS 825
#define SRV_CA_DEVICE_CERT_DAYS_MAX 3650
/* Longest accepted CSR (PEM or DER); a P-256 CSR is well under 1 KiB. */
#define SRV_CA_CSR_MAX 8192
/* Device ids and CA names: 1..64 characters of [A-Za-z0-9._-] (and space for the
 * CA name), so they can never change the meaning of a distinguished name. */
#define SRV_CA_NAME_MAX 64

typedef struct SrvCa SrvCa;

/* Creates @dir (0700) if needed, a P-256 CA key (ca.key, 0600) and a self-signed
 * CA certificate (ca.crt): subject CN=@common_name,O=Genkan, CA:TRUE pathlen 0,
 * keyUsage keyCertSign|cRLSign, SKI/AKI, 10 years. Refuses to replace an existing CA
 * (G_FILE_ERROR_EXIST). */
SrvCa *srv_ca_create(const char *dir, const char *common_name, GError **error) G_GNUC_WARN_UNUSED_RESULT;
/* Loads the CA from @dir; the key file must be mode 0600. */
SrvCa *srv_ca_open(const char *dir, GError **error) G_GNUC_WARN_UNUSED_RESULT;
void srv_ca_free(SrvCa *ca);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SrvCa, srv_ca_free)
/* Path of ca.crt, the device-port trust anchor and what enrollment codes pin. */
const char *srv_ca_get_cert_path(const SrvCa *ca);

/* Writes a new P-256 key (@out_key_path, 0600) and a server certificate
 * (@out_cert_path) for @hostname: subjectAltName DNS:@hostname plus one IP entry
 * per element of the NULL-terminated @ip_list (IPv4 or IPv6 text, may be NULL),
 * extendedKeyUsage serverAuth, keyUsage digitalSignature, CA:FALSE,
 * SRV_CA_SERVER_CERT_DAYS. Existing files are replaced (renewal). */
gboolean srv_ca_issue_server_cert(SrvCa *ca, const char *hostname, const char *const *ip_list,
                                  const char *out_cert_path, const char *out_key_path,
                                  GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* Signs an enrollment CSR (PEM or DER, at most SRV_CA_CSR_MAX bytes). The CSR's
 * self-signature must verify and its key must be EC P-256. Everything else the CSR
 * asks for is ignored: the certificate gets subject CN=@device_id,O=genkan device,
 * extendedKeyUsage clientAuth, keyUsage digitalSignature, CA:FALSE, @validity_days
 * (1..SRV_CA_DEVICE_CERT_DAYS_MAX) and a fresh random serial, written to
 * @out_serial when non-NULL (record it with a unique constraint: it is what
 * revocation uses). Returns the certificate as a PEM string (g_free). Safe to call
 * from several threads. */
char *srv_ca_sign_device_csr(SrvCa *ca, const guint8 *csr, size_t len, const char *device_id,
                             guint validity_days, guint8 out_serial[SRV_CA_SERIAL_LEN],
                             GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* SHA-256 of the DER of the first certificate in a PEM file. */
gboolean srv_ca_fingerprint_sha256(const char *cert_pem_path, guint8 out[SRV_CA_FINGERPRINT_LEN],
                                   GError **error) G_GNUC_WARN_UNUSED_RESULT;
/* Lowercase hex without separators (fingerprints, serials), for enrollment codes
 * and logs. g_free the result. */
char *srv_ca_hex(const guint8 *data, size_t len);

/* For tests only (the kiosk makes its own): a new P-256 key and a CSR with subject
 * CN=@common_name, both PEM. Free the key with gk_secure_free(key, strlen(key)). */
gboolean srv_ca_make_key_and_csr(const char *common_name, char **out_key_pem,
                                 char **out_csr_pem, GError **error) G_GNUC_WARN_UNUSED_RESULT;
