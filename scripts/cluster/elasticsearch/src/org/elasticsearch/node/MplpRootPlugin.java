package org.elasticsearch.node;

import java.util.Collection;
import java.util.List;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.elasticsearch.Build;
import org.elasticsearch.client.internal.node.NodeClient;
import org.elasticsearch.cluster.metadata.IndexNameExpressionResolver;
import org.elasticsearch.cluster.node.DiscoveryNodes;
import org.elasticsearch.common.io.stream.NamedWriteableRegistry;
import org.elasticsearch.common.settings.ClusterSettings;
import org.elasticsearch.common.settings.IndexScopedSettings;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.settings.SettingsFilter;
import org.elasticsearch.features.NodeFeature;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.rest.BaseRestHandler;
import org.elasticsearch.rest.RestController;
import org.elasticsearch.rest.RestHandler;
import org.elasticsearch.rest.RestRequest;
import org.elasticsearch.rest.RestResponse;
import org.elasticsearch.rest.RestStatus;

/**
 * GET / (name, cluster, version): served by Elasticsearch's rest-root module, which Elastic does
 * not publish on Maven Central. Clients and people use it as the first "is it up" call.
 */
public final class MplpRootPlugin extends Plugin implements ActionPlugin {
  @Override
  public Collection<RestHandler> getRestHandlers(Settings settings, NamedWriteableRegistry registry, RestController controller,
      ClusterSettings clusterSettings, IndexScopedSettings indexScopedSettings, SettingsFilter settingsFilter,
      IndexNameExpressionResolver resolver, Supplier<DiscoveryNodes> nodes, Predicate<NodeFeature> features) {
    return List.of(new BaseRestHandler() {
      @Override public String getName() { return "mplp_root_action"; }
      @Override public List<Route> routes() { return List.of(new Route(RestRequest.Method.GET, "/"), new Route(RestRequest.Method.HEAD, "/")); }
      @Override protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
        Build b = Build.current();
        String body = "{\"name\":\"" + settings.get("node.name") + "\",\"cluster_name\":\"" + settings.get("cluster.name")
            + "\",\"version\":{\"number\":\"" + b.version() + "\",\"build_flavor\":\"" + b.flavor() + "\",\"build_type\":\"" + b.type().displayName()
            + "\",\"build_hash\":\"" + b.hash() + "\",\"build_date\":\"" + b.date() + "\",\"build_snapshot\":" + b.isSnapshot()
            + ",\"lucene_version\":\"" + org.apache.lucene.util.Version.LATEST + "\",\"minimum_wire_compatibility_version\":\"" + b.minWireCompatVersion()
            + "\",\"minimum_index_compatibility_version\":\"" + b.minIndexCompatVersion() + "\"},\"tagline\":\"You Know, for Search\"}";
        return channel -> channel.sendResponse(new RestResponse(RestStatus.OK, "application/json", body));
      }
    });
  }
}
