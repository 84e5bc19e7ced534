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
        this(launch(null, List.of("listeners=PLAINTEXT://127.0.0.1:0", "console.listener=127.0.0.1:0",
                "log.dirs=" + data), overrides), data);
    }

    private Brook(Process process, Path data) throws IOException {
        this.process = process;
        this.data = data;
        BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        String line = out.readLine();
        if (line == null || !line.startsWith("brook listening on ")) {
            process.destroyForcibly();
            throw new IllegalStateException("unexpected first line from brook: " + line);
        }
        bootstrap = line.substring("brook listening on ".length());
    }

    /** `brook server [properties] --override ...`, not yet known to serve. */
    private static Process launch(Path properties, List<String> base, String... overrides) throws IOException {
        String bin = System.getProperty("brook.bin");
        if (bin == null || bin.isEmpty()) {
            throw new IllegalStateException("set -Dbrook.bin to the brook binary");
        }
        List<String> args = new ArrayList<>(List.of(bin, "server"));
        if (properties != null) {
            args.add(properties.toString());
        }
        List<String> all = new ArrayList<>(base);
        all.addAll(List.of(overrides));
        for (String o : all) {
            args.add("--override");
            args.add(o);
        }
        ProcessBuilder builder = new ProcessBuilder(args).redirectError(ProcessBuilder.Redirect.INHERIT);
        builder.environment().putIfAbsent("RUST_LOG", "warn");
        return builder.start();
    }

    static Brook start(String... overrides) throws IOException {
        return new Brook(Files.createTempDirectory("brook-java"), overrides);
    }

    /**
     * A cluster of `size` combined broker+controller nodes, each from its own KRaft-style
     * properties file, sharing one metadata quorum. All start at once: a node serves only once
     * a quorum of voters runs.
     */
    static List<Brook> startCluster(int size, String... extra) throws IOException {
        Path dir = Files.createTempDirectory("brook-cluster");
        int[][] ports = new int[size][2];
        List<String> voters = new ArrayList<>();
        for (int i = 0; i < size; i++) {
            ports[i][0] = freePort();
            ports[i][1] = freePort();
            voters.add((i + 1) + "@127.0.0.1:" + ports[i][1]);
        }
        List<Process> processes = new ArrayList<>();
        List<Path> dirs = new ArrayList<>();
        for (int i = 0; i < size; i++) {
            Path data = dir.resolve("node-" + (i + 1));
            Path properties = dir.resolve("server-" + (i + 1) + ".properties");
            Files.writeString(properties, String.join("\n",
                    "process.roles=broker,controller",
                    "node.id=" + (i + 1),
                    "controller.quorum.voters=" + String.join(",", voters),
                    "listeners=PLAINTEXT://127.0.0.1:" + ports[i][0] + ",CONTROLLER://127.0.0.1:" + ports[i][1],
                    "advertised.listeners=PLAINTEXT://127.0.0.1:" + ports[i][0],
                    "controller.listener.names=CONTROLLER",
                    "log.dirs=" + data,
                    "group.initial.rebalance.delay.ms=0",
                    "console.enabled=false",
                    String.join("\n", extra), ""));
            processes.add(launch(properties, List.of()));
            dirs.add(data);
        }
        List<Brook> nodes = new ArrayList<>();
        for (int i = 0; i < size; i++) {
            nodes.add(new Brook(processes.get(i), dirs.get(i)));
        }
        return nodes;
    }

    /**
     * A port free a moment ago, drawn below Linux's ephemeral range (32768 and up): a port from
     * there could be taken by any process's outgoing connection (a node of an earlier test still
     * retrying) before the broker binds it.
     */
    static int freePort() throws IOException {
        java.util.Random random = new java.util.Random();
        while (true) {
            int port = 10_000 + random.nextInt(22_768);
            try (java.net.ServerSocket socket = new java.net.ServerSocket()) {
                socket.bind(new java.net.InetSocketAddress("127.0.0.1", port));
                return port;
            } catch (IOException taken) {
                // Try another.
            }
        }
    }

    /** The same broker started again (after kill or close): its data directory and port. */
    Brook restart(String... overrides) throws IOException {
        String port = bootstrap.substring(bootstrap.lastIndexOf(':') + 1);
        return new Brook(launch(null, List.of("listeners=PLAINTEXT://127.0.0.1:" + port, "console.listener=127.0.0.1:0",
                "log.dirs=" + data), overrides), data);
    }

    /** kill -9: no controlled shutdown, nothing flushed. */
    void kill() throws InterruptedException {
        process.destroyForcibly().waitFor();
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy(); // SIGTERM: a clean shutdown
        if (!process.waitFor(20, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor();
        }
    }
}
