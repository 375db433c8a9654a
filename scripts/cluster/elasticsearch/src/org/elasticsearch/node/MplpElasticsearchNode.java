package org.elasticsearch.node;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.MockPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;
import org.elasticsearch.transport.netty4.Netty4Plugin;

/**
 * Runs a real single-node Elasticsearch server from the jars Elastic publishes on Maven Central
 * (server + transport-netty4 + the test framework's classpath plugin loader), because the
 * distribution tarball cannot be downloaded here. It lives in org.elasticsearch.node to reach
 * Node's construction hooks, the way the framework's MockNode does, but without MockNode's test
 * bootstrap. The HTTP API is the server's own.
 */
public final class MplpElasticsearchNode extends Node {
  private MplpElasticsearchNode(Environment env, Collection<Class<? extends Plugin>> plugins) {
    super(NodeConstruction.prepareConstruction(env, PluginsLoader.createPluginsLoader(Set.of(), Set.of(), Map.of(), false),
        new NodeServiceProvider() {
          @Override
          PluginsService newPluginService(Environment e, PluginsLoader loader) {
            return new MockPluginsService(e.settings(), e, plugins);
          }
        }, true));
  }

  public static void main(String[] args) throws Exception {
    Path home = Path.of(System.getProperty("mplp.es.home"));
    for (String d : List.of("data", "logs", "config")) Files.createDirectories(home.resolve(d));
    Settings settings = Settings.builder()
        .put("cluster.name", System.getProperty("mplp.es.cluster", "mplp-local"))
        .put("node.name", "mplp-es-1")
        .put("path.home", home.toString())
        .put("path.data", home.resolve("data").toString())
        .put("path.logs", home.resolve("logs").toString())
        .put("discovery.type", "single-node")
        .put("network.host", System.getProperty("mplp.es.host", "127.0.0.1"))
        .put("http.port", System.getProperty("mplp.es.port", "9200"))
        .put("transport.port", System.getProperty("mplp.es.transport.port", "9300"))
        .put("http.max_content_length", "200mb")
        .put("cluster.routing.allocation.disk.threshold_enabled", false)
        .put("action.destructive_requires_name", false)
        .put("node.store.allow_mmap", false)
        .put("http.type", "netty4")
        .put("transport.type", "netty4")
        .build();
    LogConfigurator.configureWithoutConfig(settings);
    Environment env = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), home.resolve("config"), () -> "mplp-es-1");
    MplpElasticsearchNode node = new MplpElasticsearchNode(env, List.of(Netty4Plugin.class, MplpRootPlugin.class));
    CountDownLatch closed = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try { node.close(); } catch (Exception e) { e.printStackTrace(); }
      closed.countDown();
    }, "mplp-es-shutdown"));
    node.start();
    System.out.println("mplp: elasticsearch node started");
    closed.await();
  }
}
