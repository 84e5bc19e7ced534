package dev.brook;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A real `brook server` process on a free port with a temporary data directory. */
final class Brook implements AutoCloseable {
    final Process process;
    final String bootstrap;
    final Path data;

    private Brook(Path data, String... overrides) throws IOException {
        this.data = data;
        String bin = System.getProperty("brook.bin");
        if (bin == null || bin.isEmpty()) {
            throw new IllegalStateException("set -Dbrook.bin to the brook binary");
        }
        List<String> args = new ArrayList<>(List.of(bin, "server",
                "--override", "listeners=PLAINTEXT://127.0.0.1:0",
                "--override", "console.listener=127.0.0.1:0",
                "--override", "log.dirs=" + data));
        for (String o : overrides) {
            args.add("--override");
            args.add(o);
        }
        ProcessBuilder builder = new ProcessBuilder(args).redirectError(ProcessBuilder.Redirect.INHERIT);
        builder.environment().putIfAbsent("RUST_LOG", "warn");
        process = builder.start();
        BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        String line = out.readLine();
        if (line == null || !line.startsWith("brook listening on ")) {
            process.destroyForcibly();
            throw new IllegalStateException("unexpected first line from brook: " + line);
        }
        bootstrap = line.substring("brook listening on ".length());
    }

    static Brook start(String... overrides) throws IOException {
        return new Brook(Files.createTempDirectory("brook-java"), overrides);
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy(); // SIGTERM: a clean shutdown
        if (!process.waitFor(20, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor();
        }
    }
}
