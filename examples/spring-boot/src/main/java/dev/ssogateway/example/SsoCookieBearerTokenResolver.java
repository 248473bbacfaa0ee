package dev.ssogateway.example;

import jakarta.servlet.http.Cookie;
import jakarta.servlet.http.HttpServletRequest;
import java.util.HashMap;
import java.util.Map;
import org.springframework.http.HttpHeaders;
import org.springframework.security.oauth2.server.resource.web.BearerTokenResolver;

/**
 * The access token of a request, read exactly as the gateway's own reader does
 * ({@code crates/core/src/cookies.rs}: {@code bearer} and {@code join_access}):
 *
 * <ol>
 *   <li>{@code Authorization: Bearer <token>} (scheme case-insensitive, token trimmed) wins;
 *   <li>else the cookies {@code sso_at}, {@code sso_at.1}, {@code sso_at.2}, … (at most 16) are
 *       joined in that order with nothing between them, stopping at the first missing or empty
 *       one. No {@code sso_at} (first chunk) means no token. The order of the cookies in the
 *       {@code Cookie} header does not matter; for a name sent twice the first one counts.
 * </ol>
 *
 * Returns {@code null} when there is no token, so Spring answers 401 (no exception here).
 */
public final class SsoCookieBearerTokenResolver implements BearerTokenResolver {
    public static final String COOKIE = "sso_at";
    /** Same bound as the gateway ({@code MAX_CHUNKS}: a 60 KB token). */
    public static final int MAX_CHUNKS = 16;

    @Override
    public String resolve(HttpServletRequest request) {
        String fromHeader = bearer(request.getHeader(HttpHeaders.AUTHORIZATION));
        if (fromHeader != null) {
            return fromHeader;
        }
        return joinChunks(request.getCookies());
    }

    /** RFC 6750 §2.1, as the gateway reads it: "{@code <scheme> <token>}", scheme "bearer". */
    static String bearer(String authorization) {
        if (authorization == null) {
            return null;
        }
        int space = authorization.indexOf(' ');
        if (space < 0) {
            return null;
        }
        String scheme = authorization.substring(0, space);
        String token = authorization.substring(space + 1).strip();
        return scheme.equalsIgnoreCase("bearer") && !token.isEmpty() ? token : null;
    }

    static String chunkName(int i) {
        return i == 0 ? COOKIE : COOKIE + "." + i;
    }

    static String joinChunks(Cookie[] cookies) {
        if (cookies == null || cookies.length == 0) {
            return null;
        }
        Map<String, String> byName = new HashMap<>();
        for (Cookie c : cookies) {
            byName.putIfAbsent(c.getName(), c.getValue());
        }
        StringBuilder joined = new StringBuilder();
        for (int i = 0; i < MAX_CHUNKS; i++) {
            String v = byName.get(chunkName(i));
            if (v == null || v.isEmpty()) {
                break;
            }
            joined.append(v);
        }
        return joined.isEmpty() ? null : joined.toString();
    }
}
