package dev.ssogateway.example;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.springframework.security.oauth2.core.DelegatingOAuth2TokenValidator;
import org.springframework.security.oauth2.core.OAuth2Error;
import org.springframework.security.oauth2.core.OAuth2ErrorCodes;
import org.springframework.security.oauth2.core.OAuth2TokenValidator;
import org.springframework.security.oauth2.core.OAuth2TokenValidatorResult;
import org.springframework.security.oauth2.jwt.Jwt;
import org.springframework.security.oauth2.jwt.JwtIssuerValidator;

/**
 * "Is this an access token that one of our gateways obtained?" — the claim checks the gateway
 * makes on {@code sso_at} ({@code check_access_claims} in {@code crates/core/src/oidc/mod.rs}),
 * except that the client must be named by {@code azp} or {@code client_id}: a token issued to
 * another client is refused even if its {@code aud} lists one of ours.
 *
 * <ul>
 *   <li>header {@code typ}, if present: {@code JWT}, {@code at+jwt} or {@code application/at+jwt};
 *   <li>payload {@code typ}, if present: {@code Bearer} (Keycloak marks its ID tokens {@code ID},
 *       refresh tokens {@code Refresh}/{@code Offline}, logout tokens {@code Logout}); without
 *       a payload {@code typ}, no {@code nonce} (an ID token); never an {@code events} claim (a
 *       logout token);
 *   <li>{@code azp} or {@code client_id} is one of the accepted clients;
 *   <li>{@code exp} present and in the future (no leeway, as the gateway); {@code nbf}, if present,
 *       not more than 30 s ahead; {@code sub} present.
 * </ul>
 *
 * The signature is checked before by the decoder (JWKS), and {@code iss} by
 * {@link #forIssuer(String, List)}.
 */
public final class SsoAccessTokenValidator implements OAuth2TokenValidator<Jwt> {
    private static final Set<String> HEADER_TYPS = Set.of("jwt", "at+jwt", "application/at+jwt");
    private static final Duration NBF_LEEWAY = Duration.ofSeconds(30);

    private final List<String> acceptedClients;
    private final Clock clock;

    public SsoAccessTokenValidator(List<String> acceptedClients, Clock clock) {
        if (acceptedClients == null || acceptedClients.isEmpty()) {
            throw new IllegalArgumentException(
                    "accepted clients must not be empty (e.g. SSO_ACCEPTED_CLIENTS=gw-a,gw-b)");
        }
        this.acceptedClients = List.copyOf(acceptedClients);
        this.clock = clock;
    }

    /** iss equal to {@code issuer} (exact string), then {@link SsoAccessTokenValidator}. */
    public static OAuth2TokenValidator<Jwt> forIssuer(String issuer, List<String> acceptedClients) {
        return forIssuer(issuer, acceptedClients, Clock.systemUTC());
    }

    static OAuth2TokenValidator<Jwt> forIssuer(String issuer, List<String> acceptedClients, Clock clock) {
        return new DelegatingOAuth2TokenValidator<>(
                new JwtIssuerValidator(issuer), new SsoAccessTokenValidator(acceptedClients, clock));
    }

    /** Comma-separated list, blanks dropped. */
    public static List<String> parseClients(String csv) {
        List<String> out = new ArrayList<>();
        if (csv != null) {
            for (String s : csv.split(",")) {
                if (!s.isBlank()) {
                    out.add(s.strip());
                }
            }
        }
        return out;
    }

    @Override
    public OAuth2TokenValidatorResult validate(Jwt jwt) {
        Object headerTyp = jwt.getHeaders().get("typ");
        if (headerTyp != null && !HEADER_TYPS.contains(headerTyp.toString().toLowerCase(java.util.Locale.ROOT))) {
            return fail("not an access token (header typ " + headerTyp + ")");
        }
        // BCL 1.0 §2.4: a logout token carries `events`; never an access token.
        if (jwt.hasClaim("events")) {
            return fail("not an access token");
        }
        // Keycloak names each token's kind in a payload `typ`: "Bearer" for access tokens,
        // "ID", "Refresh", "Offline", "Logout" for the others. Without it, a `nonce` marks an
        // ID token; with it, a `nonce` comes from Keycloak's "Nonce backwards compatible" mapper.
        Object typ = jwt.getClaims().get("typ");
        if (typ != null) {
            if (!(typ instanceof String t) || !t.equalsIgnoreCase("bearer")) {
                return fail("not an access token (typ " + typ + ")");
            }
        } else if (jwt.hasClaim("nonce")) {
            return fail("not an access token");
        }
        String azp = stringClaim(jwt, "azp");
        String clientId = stringClaim(jwt, "client_id");
        boolean accepted = (azp != null && acceptedClients.contains(azp))
                || (clientId != null && acceptedClients.contains(clientId));
        if (!accepted) {
            return fail("access token issued to another client");
        }
        Instant now = clock.instant();
        Instant exp = jwt.getExpiresAt();
        if (exp == null) {
            return fail("access token without exp");
        }
        if (!exp.isAfter(now)) {
            return fail("access token expired");
        }
        Instant nbf = jwt.getNotBefore();
        if (nbf != null && nbf.isAfter(now.plus(NBF_LEEWAY))) {
            return fail("access token not valid yet");
        }
        if (stringClaim(jwt, "sub") == null) {
            return fail("access token without sub");
        }
        return OAuth2TokenValidatorResult.success();
    }

    private static String stringClaim(Jwt jwt, String name) {
        Object v = jwt.getClaims().get(name);
        return v instanceof String s ? s : null;
    }

    private static OAuth2TokenValidatorResult fail(String why) {
        return OAuth2TokenValidatorResult.failure(new OAuth2Error(OAuth2ErrorCodes.INVALID_TOKEN, why, null));
    }
}
