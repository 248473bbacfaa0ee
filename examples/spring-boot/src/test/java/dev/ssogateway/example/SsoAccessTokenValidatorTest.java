package dev.ssogateway.example;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.springframework.test.web.client.match.MockRestRequestMatchers.requestTo;
import static org.springframework.test.web.client.response.MockRestResponseCreators.withSuccess;

import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.security.oauth2.jwt.BadJwtException;
import org.springframework.security.oauth2.jwt.Jwt;
import org.springframework.security.oauth2.jwt.JwtDecoder;
import org.springframework.security.oauth2.jwt.JwtException;
import org.springframework.security.oauth2.jwt.NimbusJwtDecoder;
import org.springframework.http.MediaType;
import org.springframework.test.web.client.ExpectedCount;
import org.springframework.test.web.client.MockRestServiceServer;
import org.springframework.web.client.RestTemplate;

/**
 * The decoder exactly as the app builds it for SSO_JWKS_URI (JWKS key selection by kid,
 * asymmetric algorithms, SsoAccessTokenValidator.forIssuer), its JWKS request answered by a
 * mock (no network), fed with tokens signed by locally generated RSA keys.
 */
class SsoAccessTokenValidatorTest {
    static final String ISSUER = "http://127.0.0.1:8080/realms/demo";
    static final String JWKS_URI = ISSUER + "/protocol/openid-connect/certs";
    static RSAKey key;
    static RSAKey otherKey;
    static JwtDecoder decoder;

    @BeforeAll
    static void keys() throws Exception {
        key = new RSAKeyGenerator(2048).keyID("k1").generate();
        otherKey = new RSAKeyGenerator(2048).keyID("k1").generate(); // same kid, other key
        // the production builder (SSO_JWKS_URI), its HTTP answered locally: no network
        RestTemplate rest = new RestTemplate();
        MockRestServiceServer.bindTo(rest).build()
                .expect(ExpectedCount.manyTimes(), requestTo(JWKS_URI))
                .andRespond(withSuccess(new JWKSet(key.toPublicJWK()).toString(), MediaType.APPLICATION_JSON));
        decoder = SecurityConfig.classifyErrors(SecurityConfig.decoder(
                NimbusJwtDecoder.withJwkSetUri(JWKS_URI).restOperations(rest),
                SsoAccessTokenValidator.forIssuer(ISSUER, List.of("gw-a", "gw-b"))));
    }

    /** A Keycloak-like access token for gw-a; {@code tweak} changes the claims. */
    static String token(RSAKey signer, String headerTyp, Consumer<JWTClaimsSet.Builder> tweak) throws Exception {
        Instant now = Instant.now();
        JWTClaimsSet.Builder claims = new JWTClaimsSet.Builder()
                .issuer(ISSUER)
                .subject("1b8f0e3c-0000-4000-8000-00000000a11c")
                .audience("account")
                .issueTime(Date.from(now))
                .expirationTime(Date.from(now.plusSeconds(300)))
                .claim("typ", "Bearer")
                .claim("azp", "gw-a")
                .claim("preferred_username", "alice");
        tweak.accept(claims);
        JWSHeader.Builder header = new JWSHeader.Builder(JWSAlgorithm.RS256).keyID(signer.getKeyID());
        if (headerTyp != null) {
            header.type(new JOSEObjectType(headerTyp));
        }
        SignedJWT jwt = new SignedJWT(header.build(), claims.build());
        jwt.sign(new RSASSASigner(signer));
        return jwt.serialize();
    }

    static String token(Consumer<JWTClaimsSet.Builder> tweak) throws Exception {
        return token(key, "JWT", tweak);
    }

    static void refused(String token, String why) {
        JwtException e = assertThrows(JwtException.class, () -> decoder.decode(token));
        assertTrue(e instanceof BadJwtException, "a bad token must be a BadJwtException (→ 401): " + e);
        assertTrue(e.getMessage().contains(why), e.getMessage());
    }

    @Test
    void keycloakAccessTokenOfAnAcceptedClient() throws Exception {
        Jwt jwt = decoder.decode(token(c -> {}));
        assertEquals("1b8f0e3c-0000-4000-8000-00000000a11c", jwt.getSubject());
        assertEquals("gw-a", jwt.getClaimAsString("azp"));
        // RFC 9068 header typ, no payload typ, client in client_id only
        decoder.decode(token(key, "at+jwt", c -> c.claim("typ", null).claim("azp", null).claim("client_id", "gw-b")));
        decoder.decode(token(key, null, c -> {}));
        // Keycloak's "Nonce backwards compatible" mapper: typ Bearer plus a nonce is still an
        // access token; the payload typ is compared case-insensitively
        decoder.decode(token(c -> c.claim("nonce", "n-1")));
        decoder.decode(token(c -> c.claim("typ", "bearer")));
    }

    @Test
    void anotherClientIsRefusedEvenIfAudListsOurs() throws Exception {
        refused(token(c -> c.claim("azp", "other-app")), "another client");
        refused(token(c -> c.claim("azp", "other-app").audience(List.of("gw-a", "gw-b"))), "another client");
        refused(token(c -> c.claim("azp", null)), "another client");
        refused(token(c -> c.claim("azp", List.of("gw-a"))), "another client");
    }

    @Test
    void keycloakIdAndRefreshTokensAreRefused() throws Exception {
        refused(token(c -> c.claim("typ", "ID")), "typ ID");
        refused(token(c -> c.claim("typ", "Refresh")), "typ Refresh");
        refused(token(c -> c.claim("typ", "Offline")), "typ Offline");
        refused(token(c -> c.claim("typ", "Logout")), "typ Logout");
        refused(token(c -> c.claim("typ", List.of("Bearer"))), "typ");
        // no payload typ: a nonce marks an ID token
        refused(token(c -> c.claim("typ", null).claim("nonce", "n-1")), "not an access token");
        refused(token(c -> c.claim("events", Map.of("http://schemas.openid.net/event/backchannel-logout", Map.of()))),
                "not an access token");
        refused(token(key, "logout+jwt", c -> {}), "header typ");
    }

    @Test
    void issuerExpiryAndSignature() throws Exception {
        refused(token(c -> c.issuer("http://127.0.0.1:8080/realms/other")), "iss");
        refused(token(c -> c.issuer(null)), "iss");
        refused(token(c -> c.issueTime(Date.from(Instant.now().minusSeconds(60)))
                .expirationTime(Date.from(Instant.now().minusSeconds(1)))), "expired");
        // Spring cannot even build a Jwt from this one: still the token's fault (401), not 503
        refused(token(c -> c.expirationTime(Date.from(Instant.now().minusSeconds(1)))), "expiresAt");
        refused(token(c -> c.expirationTime(null)), "exp");
        refused(token(c -> c.notBeforeTime(Date.from(Instant.now().plusSeconds(120)))), "not valid yet");
        refused(token(c -> c.subject(null)), "sub");
        // same kid, another key: the signature does not verify
        assertThrows(BadJwtException.class, () -> decoder.decode(token(otherKey, "JWT", c -> {})));
        // alg none / garbage
        assertThrows(BadJwtException.class, () -> decoder.decode("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."));
        assertThrows(BadJwtException.class, () -> decoder.decode("not-a-jwt"));
    }

    @Test
    void acceptedClientsAreRequired() {
        assertThrows(IllegalArgumentException.class, () -> SsoAccessTokenValidator.forIssuer(ISSUER, List.of()));
        assertEquals(List.of("gw-a", "gw-b"), SsoAccessTokenValidator.parseClients(" gw-a, ,gw-b ,"));
    }
}
