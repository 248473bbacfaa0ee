package dev.ssogateway.example;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import jakarta.servlet.http.Cookie;
import org.junit.jupiter.api.Test;
import org.springframework.mock.web.MockHttpServletRequest;

/** Same rules as {@code join_access} / {@code bearer} in crates/core/src/cookies.rs. */
class SsoCookieBearerTokenResolverTest {
    private final SsoCookieBearerTokenResolver resolver = new SsoCookieBearerTokenResolver();

    private static MockHttpServletRequest request(String authorization, Cookie... cookies) {
        MockHttpServletRequest r = new MockHttpServletRequest("GET", "/api/me");
        if (authorization != null) {
            r.addHeader("Authorization", authorization);
        }
        if (cookies.length > 0) {
            r.setCookies(cookies);
        }
        return r;
    }

    private static Cookie c(String name, String value) {
        return new Cookie(name, value);
    }

    @Test
    void singleCookie() {
        assertEquals("abc", resolver.resolve(request(null, c("sso_at", "abc"), c("sso_rt", "sealed"))));
    }

    @Test
    void chunksAreJoinedInNameOrderWhateverTheHeaderOrder() {
        assertEquals("aaabbbccc", resolver.resolve(request(null,
                c("sso_at.2", "ccc"), c("sso_rt", "x"), c("sso_at", "aaa"), c("sso_at.1", "bbb"))));
    }

    @Test
    void authorizationBearerComesFirst() {
        assertEquals("from-header", resolver.resolve(request("Bearer from-header", c("sso_at", "from-cookie"))));
        // scheme case-insensitive, token trimmed, as the gateway's reader
        assertEquals("tok", resolver.resolve(request("bearer  tok ", c("sso_at", "from-cookie"))));
    }

    @Test
    void anotherSchemeOrAnEmptyBearerFallsBackToTheCookie() {
        assertEquals("from-cookie", resolver.resolve(request("Basic dXNlcjpwdw==", c("sso_at", "from-cookie"))));
        assertEquals("from-cookie", resolver.resolve(request("Bearer ", c("sso_at", "from-cookie"))));
        assertEquals("from-cookie", resolver.resolve(request("Bearer", c("sso_at", "from-cookie"))));
        assertNull(resolver.resolve(request("Basic dXNlcjpwdw==")));
    }

    @Test
    void missingFirstChunkIsNoToken() {
        assertNull(resolver.resolve(request(null, c("sso_at.1", "bbb"), c("sso_at.2", "ccc"))));
        assertNull(resolver.resolve(request(null, c("sso_at", ""), c("sso_at.1", "bbb"))));
        assertNull(resolver.resolve(request(null, c("sso_rt", "x"))));
        assertNull(resolver.resolve(request(null)));
    }

    @Test
    void joiningStopsAtTheFirstMissingOrEmptyChunk() {
        // the gateway's join_access stops at a gap (the truncated token then fails its signature)
        assertEquals("aaa", resolver.resolve(request(null, c("sso_at", "aaa"), c("sso_at.2", "ccc"))));
        assertEquals("aaa", resolver.resolve(request(null, c("sso_at", "aaa"), c("sso_at.1", ""), c("sso_at.2", "ccc"))));
        // sso_at.0 is not a chunk name
        assertEquals("aaa", resolver.resolve(request(null, c("sso_at", "aaa"), c("sso_at.0", "zzz"))));
    }

    @Test
    void atMostSixteenChunksAndFirstOfADuplicateNameWins() {
        Cookie[] cookies = new Cookie[18];
        StringBuilder expected = new StringBuilder();
        for (int i = 0; i < 17; i++) {
            String v = "v" + i + ";";
            cookies[i] = c(SsoCookieBearerTokenResolver.chunkName(i), v.replace(";", "-"));
            if (i < 16) {
                expected.append(v.replace(";", "-"));
            }
        }
        cookies[17] = c("sso_at", "duplicate");
        assertEquals(expected.toString(), resolver.resolve(request(null, cookies)));
    }
}
