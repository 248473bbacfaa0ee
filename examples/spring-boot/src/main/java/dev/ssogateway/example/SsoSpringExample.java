package dev.ssogateway.example;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

@SpringBootApplication
public class SsoSpringExample {
    public static void main(String[] args) {
        SpringApplication.run(SsoSpringExample.class, args);
    }
}
