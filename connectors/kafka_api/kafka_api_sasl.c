/*
 * kafka_api_sasl.c — SASL/PLAIN for the Kafka listener: SaslHandshake (v0-v1) and
 * SaslAuthenticate (v0-v2, KIP-152) against the password file (bridge/passwd.h), and
 * the rule of what a connection may send before it has authenticated.
 *
 * As a Kafka broker: before authentication only ApiVersions, SaslHandshake and (after
 * the handshake) SaslAuthenticate are served, anything else closes the connection; an
 * unsupported mechanism or a failed authentication is answered with its error code
 * (and a message) and the connection is closed. The v0 handshake's raw-token framing
 * (a bare SASL token after SaslHandshake v0) is not served: clients that see
 * SaslAuthenticate in ApiVersions (librdkafka >= 1.0, kafkajs, the Java client since
 * Kafka 1.0) send SaslHandshake v1 and SaslAuthenticate; a raw token is closed as a
 * malformed request. Re-authentication (KIP-368) is not offered (session lifetime 0).
 *
 * Thread: the server thread; the state lives in the connection (mqb_kapi_sasl_t).
 */
#include <string.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/passwd.h"
#include "connectors/kafka_api/kafka_api_int.h"

#define SASL_MOD "kafka_api"
#define SASL_MECH "PLAIN"

bool mqb_kapi_sasl_allows(const mqb_kapi_ctx_t *ctx, const mqb_kapi_call_t *call,
			  int16_t api_key)
{
	const mqb_kapi_sasl_t *s = call->sasl;

	if (!ctx->users || (s && s->authed))
		return true;
	if (api_key == KAPI_API_VERSIONS || api_key == KAPI_SASL_HANDSHAKE)
		return true;
	return api_key == KAPI_SASL_AUTHENTICATE && s && s->handshaken;
}

static void mechanisms(mqb_kw_t *w, bool any)
{
	mqb_kw_i32(w, any ? 1 : 0);
	if (any)
		mqb_kw_cstr(w, SASL_MECH);
}

mqb_kapi_verdict_t mqb_kapi_sasl_handshake(const mqb_kapi_ctx_t *ctx, const mqb_kreq_hdr_t *h,
					   mqb_kr_t *r, mqb_kw_t *w, mqb_kapi_call_t *call)
{
	mqb_kstr_t mech = mqb_kr_str(r);
	mqb_kapi_sasl_t *s = call->sasl;

	(void)h;
	if (r->err)
		return KAPI_CLOSE;
	if (!ctx->users) {
		/* a listener without SASL (as Kafka's PLAINTEXT listener answers) */
		mqb_kw_i16(w, KERR_ILLEGAL_SASL_STATE);
		mqb_kapi_note_error(call, KERR_ILLEGAL_SASL_STATE);
		mechanisms(w, false);
		return KAPI_RESPOND;
	}
	if (!s || s->handshaken || s->authed) {
		mqb_kw_i16(w, KERR_ILLEGAL_SASL_STATE);
		mqb_kapi_note_error(call, KERR_ILLEGAL_SASL_STATE);
		mechanisms(w, true);
		call->close_why = "a second SaslHandshake";
		return KAPI_RESPOND_CLOSE;
	}
	if (mech.len != (int32_t)strlen(SASL_MECH) || memcmp(mech.s, SASL_MECH, strlen(SASL_MECH))) {
		mqb_kw_i16(w, KERR_UNSUPPORTED_SASL_MECHANISM);
		mqb_kapi_note_error(call, KERR_UNSUPPORTED_SASL_MECHANISM);
		mechanisms(w, true);
		call->close_why = "SASL mechanism other than PLAIN asked for";
		return KAPI_RESPOND_CLOSE;
	}
	s->handshaken = true;
	mqb_kw_i16(w, KERR_NONE);
	mechanisms(w, true);
	return KAPI_RESPOND;
}

static void auth_answer(mqb_kw_t *w, int16_t v, int16_t err, const char *msg)
{
	mqb_kw_i16(w, err);
	if (v >= 2) {
		mqb_kw_compact_cstr(w, msg);
		mqb_kw_uvarint(w, 1);            /* auth_bytes: empty (PLAIN has no answer) */
	} else {
		mqb_kw_cstr(w, msg);
		mqb_kw_i32(w, 0);
	}
	if (v >= 1)
		mqb_kw_i64(w, 0);                /* session_lifetime_ms: no re-authentication */
	if (v >= 2)
		mqb_kw_tags_empty(w);
}

static mqb_kapi_verdict_t auth_fail(const mqb_kapi_ctx_t *ctx, mqb_kw_t *w, int16_t v,
				    mqb_kapi_call_t *call, const char *user, const char *why)
{
	if (ctx->stats)
		mqb_counter_inc(ctx->stats->auth_failures);
	MQB_LOG_RATELIMITED(MQB_LOG_WARN, SASL_MOD, 2000, "SASL/PLAIN authentication failed "
			    "from %s (user \"%s\"): %s", call->client_host ? call->client_host : "?",
			    user, why);
	auth_answer(w, v, KERR_SASL_AUTHENTICATION_FAILED, why);
	mqb_kapi_note_error(call, KERR_SASL_AUTHENTICATION_FAILED);
	call->close_why = "SASL authentication failed";
	return KAPI_RESPOND_CLOSE;
}

mqb_kapi_verdict_t mqb_kapi_sasl_authenticate(const mqb_kapi_ctx_t *ctx,
					      const mqb_kreq_hdr_t *h, mqb_kr_t *r,
					      mqb_kw_t *w, mqb_kapi_call_t *call)
{
	int16_t v = h->api_version;
	mqb_kstr_t tok = v >= 2 ? mqb_kr_compact_str(r) : mqb_kr_bytes(r);
	char user[MQB_PASSWD_USER_MAX], pass[MQB_PASSWD_PASS_MAX];
	mqb_kapi_sasl_t *s = call->sasl;
	bool ok;

	if (v >= 2)
		mqb_kr_tags(r);
	if (r->err)
		return KAPI_CLOSE;
	if (!ctx->users) {
		auth_answer(w, v, KERR_ILLEGAL_SASL_STATE, "SASL is not enabled on this "
			    "listener (kafka_api.sasl_password_file)");
		mqb_kapi_note_error(call, KERR_ILLEGAL_SASL_STATE);
		return KAPI_RESPOND;
	}
	if (!s || !s->handshaken || s->authed) {
		auth_answer(w, v, KERR_ILLEGAL_SASL_STATE, s && s->authed ?
			    "already authenticated (re-authentication is not supported)" :
			    "SaslAuthenticate before SaslHandshake");
		mqb_kapi_note_error(call, KERR_ILLEGAL_SASL_STATE);
		call->close_why = "SaslAuthenticate out of order";
		return KAPI_RESPOND_CLOSE;
	}
	if (mqb_sasl_plain_parse(tok.s, tok.len > 0 ? (size_t)tok.len : 0, user, sizeof user,
				 pass, sizeof pass) != MQB_OK)
		return auth_fail(ctx, w, v, call, "?", "Authentication failed: malformed "
				 "SASL/PLAIN message");
	ok = mqb_passwd_check(ctx->users, user, pass);
	memset(pass, 0, sizeof pass);
	if (!ok)
		return auth_fail(ctx, w, v, call, user, "Authentication failed: Invalid "
				 "username or password");
	s->authed = true;
	mqb_debug(SASL_MOD, "%s authenticated as \"%s\" (SASL/PLAIN)",
		  call->client_host ? call->client_host : "?", user);
	auth_answer(w, v, KERR_NONE, NULL);
	return KAPI_RESPOND;
}
