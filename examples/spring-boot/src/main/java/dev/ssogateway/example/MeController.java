package dev.ssogateway.example;

import java.util.LinkedHashMap;
import java.util.Map;
import org.springframework.security.core.annotation.AuthenticationPrincipal;
import org.springframework.security.oauth2.jwt.Jwt;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

@RestController
public class MeController {
    /** {@code 200 {"sub", "preferred_username", "azp"}} for a verified caller. */
    @GetMapping("/api/me")
    public Map<String, Object> me(@AuthenticationPrincipal Jwt jwt) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("sub", jwt.getSubject());
        out.put("preferred_username", jwt.getClaimAsString("preferred_username"));
        out.put("azp", jwt.getClaimAsString("azp"));
        return out;
    }
}
