package dev.ssogateway.example;

import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.http.MediaType;
import org.springframework.security.authentication.AuthenticationServiceException;
import org.springframework.security.config.ObjectPostProcessor;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.config.http.SessionCreationPolicy;
import org.springframework.security.authentication.InsufficientAuthenticationException;
import org.springframework.security.core.AuthenticationException;
import org.springframework.security.oauth2.core.OAuth2TokenValidator;
import org.springframework.security.oauth2.jose.jws.SignatureAlgorithm;
import org.springframework.security.oauth2.jwt.BadJwtException;
import org.springframework.security.oauth2.jwt.Jwt;
import org.springframework.security.oauth2.jwt.JwtDecoder;
import org.springframework.security.oauth2.jwt.JwtException;
import org.springframework.security.oauth2.jwt.NimbusJwtDecoder;
import org.springframework.security.oauth2.jwt.SupplierJwtDecoder;
import org.springframework.security.oauth2.server.resource.web.authentication.BearerTokenAuthenticationFilter;
import org.springframework.security.oauth2.server.resource.web.BearerTokenAuthenticationEntryPoint;
import org.springframework.security.web.AuthenticationEntryPoint;
import org.springframework.security.web.SecurityFilterChain;
import org.springframework.security.web.authentication.AuthenticationFailureHandler;

/**
 * Stateless resource server: every request under {@code /api/**} needs a valid access token
 * (see {@link SsoCookieBearerTokenResolver} and {@link SsoAccessTokenValidator}).
 *
 * <ul>
 *   <li>no token or a bad one: {@code 401} + {@code WWW-Authenticate: Bearer …} + JSON
 *       {@code {"error":"unauthorized","error_description":…}};
 *   <li>the OP's JWKS (or discovery) cannot be fetched: {@code 503} + {@code Retry-After: 5} +
 *       JSON {@code {"error":"temporarily_unavailable"}} — not the caller's fault, so clients
 *       retry instead of sending the user to log in again.
 * </ul>
 */
@Configuration
public class SecurityConfig {
    private static final Logger log = LoggerFactory.getLogger(SecurityConfig.class);

    @Bean
    SecurityFilterChain api(HttpSecurity http) throws Exception {
        AuthenticationEntryPoint unauthorized = jsonUnauthorized();
        AuthenticationFailureHandler failure = (request, response, e) -> {
            if (e instanceof AuthenticationServiceException) {
                log.warn("identity provider keys unavailable: {}", e.getMessage());
                writeJson(response, 503, "temporarily_unavailable", "identity provider keys unavailable");
                response.setHeader("Retry-After", "5");
            } else {
                unauthorized.commence(request, response, e);
            }
        };
        http.authorizeHttpRequests(a -> a.anyRequest().authenticated())
                .sessionManagement(s -> s.sessionCreationPolicy(SessionCreationPolicy.STATELESS))
                .requestCache(c -> c.disable())
                // GET-only API. With cookie-borne tokens, keep CSRF protection (Spring's default
                // here, or a required custom header) for any POST/PUT/DELETE you add.
                .exceptionHandling(e -> e.authenticationEntryPoint(unauthorized))
                .oauth2ResourceServer(o -> o
                        .bearerTokenResolver(new SsoCookieBearerTokenResolver())
                        .authenticationEntryPoint(unauthorized)
                        .jwt(j -> {})
                        .withObjectPostProcessor(new ObjectPostProcessor<BearerTokenAuthenticationFilter>() {
                            @Override
                            public <O extends BearerTokenAuthenticationFilter> O postProcess(O filter) {
                                filter.setAuthenticationFailureHandler(failure);
                                return filter;
                            }
                        }));
        return http.build();
    }

    /**
     * Signature with the issuer's keys (JWKS from {@code sso.jwks-uri}, else from the issuer's
     * discovery document, fetched on first use so the app starts while the OP is down), then
     * {@code iss} and {@link SsoAccessTokenValidator}.
     */
    @Bean
    JwtDecoder jwtDecoder(
            @Value("${sso.issuer}") String issuer,
            @Value("${sso.jwks-uri:}") String jwksUri,
            @Value("${sso.accepted-clients}") String acceptedClients) {
        if (issuer.isBlank()) {
            throw new IllegalStateException("SSO_ISSUER is required, e.g. https://kc.example.com/realms/demo");
        }
        List<String> clients = SsoAccessTokenValidator.parseClients(acceptedClients);
        if (clients.isEmpty()) {
            throw new IllegalStateException("SSO_ACCEPTED_CLIENTS is required, e.g. gw-a,gw-b (the gateways' client ids)");
        }
        OAuth2TokenValidator<Jwt> validator = SsoAccessTokenValidator.forIssuer(issuer, clients);
        log.info("issuer {}, JWKS {}, accepted clients {}", issuer,
                jwksUri.isBlank() ? "(from discovery)" : jwksUri, clients);
        JwtDecoder lazy = new SupplierJwtDecoder(() -> decoder(
                jwksUri.isBlank() ? NimbusJwtDecoder.withIssuerLocation(issuer) : NimbusJwtDecoder.withJwkSetUri(jwksUri),
                validator));
        return classifyErrors(lazy);
    }

    /**
     * Spring answers 401 for a {@link BadJwtException} and 503 (the failure handler above) for
     * any other {@link JwtException}. Make that split "the token's fault" vs "the OP's fault":
     * a token Spring cannot even turn into a {@link Jwt} (e.g. {@code exp} before {@code iat})
     * is bad; discovery or JWKS trouble (and anything else thrown) is the OP's.
     */
    static JwtDecoder classifyErrors(JwtDecoder decoder) {
        return token -> {
            try {
                return decoder.decode(token);
            } catch (BadJwtException e) {
                throw e;
            } catch (JwtException e) {
                if (e.getCause() instanceof IllegalArgumentException) {
                    throw new BadJwtException(e.getMessage(), e);
                }
                throw e;
            } catch (RuntimeException e) {
                throw new JwtException("cannot verify the token now: " + e.getMessage(), e);
            }
        };
    }

    /** Asymmetric algorithms only; the header typ is left to {@link SsoAccessTokenValidator}. */
    static NimbusJwtDecoder decoder(NimbusJwtDecoder.JwkSetUriJwtDecoderBuilder builder,
            OAuth2TokenValidator<Jwt> validator) {
        NimbusJwtDecoder d = builder
                .validateType(false)
                .jwsAlgorithms(algs -> algs.addAll(List.of(
                        SignatureAlgorithm.RS256, SignatureAlgorithm.RS384, SignatureAlgorithm.RS512,
                        SignatureAlgorithm.PS256, SignatureAlgorithm.PS384, SignatureAlgorithm.PS512,
                        SignatureAlgorithm.ES256, SignatureAlgorithm.ES384, SignatureAlgorithm.ES512)))
                .build();
        d.setJwtValidator(validator);
        return d;
    }

    private static AuthenticationEntryPoint jsonUnauthorized() {
        BearerTokenAuthenticationEntryPoint bearer = new BearerTokenAuthenticationEntryPoint();
        return (request, response, e) -> {
            bearer.commence(request, response, e); // 401 + WWW-Authenticate: Bearer …
            writeJson(response, 401, "unauthorized", describe(e));
        };
    }

    private static String describe(AuthenticationException e) {
        String m = e.getMessage();
        return e instanceof InsufficientAuthenticationException || m == null || m.isBlank()
                ? "no access token" : m;
    }

    private static void writeJson(HttpServletResponse response, int status, String error, String description)
            throws IOException {
        response.setStatus(status);
        response.setHeader("Cache-Control", "no-store");
        response.setContentType(MediaType.APPLICATION_JSON_VALUE);
        response.setCharacterEncoding(StandardCharsets.UTF_8.name());
        response.getWriter().write("{\"error\":\"" + error + "\",\"error_description\":\""
                + jsonEscape(description) + "\"}");
    }

    private static String jsonEscape(String s) {
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.toString();
    }
}
