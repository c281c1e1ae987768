// deploy/kubernetes/: every file parses as YAML (yaml-cpp), and the objects carry what least privilege and the
// read-only promise need: the agent's DaemonSet mounts the Longhorn disk read-only, takes its node name from
// the downward API, runs unprivileged with DAC_READ_SEARCH only, on every node; the collector's Deployment
// keeps its store on the PersistentVolumeClaim and its Service exposes 7460 and 7461.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <map>
#include <regex>
#include <set>

namespace sentinel::testing {
namespace {

namespace fs = std::filesystem;

const std::string kManifestDir = std::string(SENTINEL_SOURCE_DIR) + "/deploy/kubernetes";

class KubernetesManifests : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::is_directory(kManifestDir));
    for (const auto& entry : fs::directory_iterator(kManifestDir)) {
      if (entry.path().extension() != ".yaml") continue;
      ++files_;
      std::vector<YAML::Node> documents;
      try {
        documents = YAML::LoadAllFromFile(entry.path().string());
      } catch (const YAML::Exception& e) {
        FAIL() << entry.path() << " is not YAML: " << e.what();
      }
      for (const auto& doc : documents) {
        if (!doc || doc.IsNull()) continue;
        ASSERT_TRUE(doc["apiVersion"] && doc["kind"] && doc["metadata"]["name"]) << entry.path();
        objects_[doc["kind"].as<std::string>() + "/" + doc["metadata"]["name"].as<std::string>()] = doc;
      }
    }
    ASSERT_GE(files_, 2);
  }

  YAML::Node object(const std::string& key) {
    const auto it = objects_.find(key);
    if (it == objects_.end()) {
      ADD_FAILURE() << key << " is not in " << kManifestDir;
      return YAML::Node();
    }
    return it->second;
  }

  static YAML::Node container(const YAML::Node& workload, const std::string& name) {
    for (const auto& c : workload["spec"]["template"]["spec"]["containers"]) {
      if (c["name"].as<std::string>() == name) return c;
    }
    ADD_FAILURE() << "no container " << name;
    return YAML::Node();
  }

  static std::vector<std::string> strings(const YAML::Node& sequence) {
    std::vector<std::string> out;
    if (sequence && sequence.IsSequence()) {
      for (const auto& item : sequence) out.push_back(item.as<std::string>());
    }
    return out;
  }

  // Nothing in a pod spec may ask for privilege: no privileged container, no escalation, no host namespaces.
  static void expect_unprivileged(const YAML::Node& pod, const std::string& what) {
    for (const char* host : {"hostNetwork", "hostPID", "hostIPC"}) {
      EXPECT_FALSE(pod[host] && pod[host].as<bool>()) << what << " sets " << host;
    }
    for (const char* list : {"containers", "initContainers"}) {
      for (const auto& c : pod[list]) {
        const auto sc = c["securityContext"];
        ASSERT_TRUE(sc) << what << ": a container without a securityContext";
        EXPECT_FALSE(sc["privileged"] && sc["privileged"].as<bool>()) << what << " runs privileged";
        ASSERT_TRUE(sc["allowPrivilegeEscalation"]) << what;
        EXPECT_FALSE(sc["allowPrivilegeEscalation"].as<bool>()) << what;
        ASSERT_TRUE(sc["readOnlyRootFilesystem"]) << what;
        EXPECT_TRUE(sc["readOnlyRootFilesystem"].as<bool>()) << what;
        EXPECT_EQ(strings(sc["capabilities"]["drop"]), std::vector<std::string>{"ALL"}) << what;
        EXPECT_TRUE(c["resources"]["limits"]["cpu"] && c["resources"]["limits"]["memory"]) << what << ": no limits";
      }
    }
  }

  int files_ = 0;
  std::map<std::string, YAML::Node> objects_;
};

TEST_F(KubernetesManifests, AgentDaemonSetMountsLonghornReadOnlyAndRunsUnprivileged) {
  const YAML::Node daemonset = object("DaemonSet/sentinel-agent");
  ASSERT_TRUE(daemonset);
  const YAML::Node pod = daemonset["spec"]["template"]["spec"];
  expect_unprivileged(pod, "the agent");
  const YAML::Node agent = container(daemonset, "agent");
  EXPECT_EQ(strings(agent["securityContext"]["capabilities"]["add"]), std::vector<std::string>{"DAC_READ_SEARCH"});

  // Every hostPath volume at or under /var/lib/longhorn, and every mount of it, is read-only.
  std::set<std::string> longhorn_volumes;
  for (const auto& volume : pod["volumes"]) {
    if (!volume["hostPath"]) continue;
    const std::string path = volume["hostPath"]["path"].as<std::string>();
    if (path == "/var/lib/longhorn" || path.rfind("/var/lib/longhorn/", 0) == 0) {
      longhorn_volumes.insert(volume["name"].as<std::string>());
      EXPECT_NE(volume["hostPath"]["type"].as<std::string>(""), "DirectoryOrCreate") << "never create a disk path";
    }
  }
  ASSERT_EQ(longhorn_volumes.size(), 1u) << "the DaemonSet must mount /var/lib/longhorn";
  int longhorn_mounts = 0;
  for (const auto& mount : agent["volumeMounts"]) {
    if (!longhorn_volumes.count(mount["name"].as<std::string>())) continue;
    ++longhorn_mounts;
    ASSERT_TRUE(mount["readOnly"]) << "a Longhorn mount without readOnly";
    EXPECT_TRUE(mount["readOnly"].as<bool>()) << "the Longhorn disk is mounted writable";
    EXPECT_EQ(mount["mountPath"].as<std::string>(), "/var/lib/longhorn");
  }
  EXPECT_EQ(longhorn_mounts, 1);
  const auto args = strings(agent["args"]);
  EXPECT_NE(std::find(args.begin(), args.end(), "--disk=/var/lib/longhorn"), args.end());

  // --node comes from the downward API: an env var from spec.nodeName, expanded by Kubernetes in args.
  std::string node_variable;
  for (const auto& env : agent["env"]) {
    if (env["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>("") == "spec.nodeName") {
      node_variable = env["name"].as<std::string>();
    }
  }
  ASSERT_FALSE(node_variable.empty()) << "no env var from the downward API's spec.nodeName";
  EXPECT_NE(std::find(args.begin(), args.end(), "--node=$(" + node_variable + ")"), args.end());

  // On every node, tainted or not; a liveness probe that asks the agent itself.
  bool tolerates_everything = false;
  for (const auto& toleration : pod["tolerations"]) {
    tolerates_everything = tolerates_everything || (toleration["operator"].as<std::string>("") == "Exists" &&
                                                     !toleration["key"] && !toleration["effect"]);
  }
  EXPECT_TRUE(tolerates_everything);
  const auto probe = strings(agent["livenessProbe"]["exec"]["command"]);
  ASSERT_GE(probe.size(), 2u);
  EXPECT_EQ(probe[0], "/usr/bin/sentinelctl");
  EXPECT_EQ(probe[1], "status");
  // The state directory and the socket's directory are volumes (the root file system is read-only).
  std::set<std::string> mount_paths;
  for (const auto& mount : agent["volumeMounts"]) mount_paths.insert(mount["mountPath"].as<std::string>());
  EXPECT_TRUE(mount_paths.count("/var/lib/sentinel") && mount_paths.count("/run/sentinel"));
}

TEST_F(KubernetesManifests, CollectorDeploymentKeepsItsStoreOnAClaimBehindAService) {
  const YAML::Node deployment = object("Deployment/sentinel-collector");
  const YAML::Node service = object("Service/sentinel-collector");
  ASSERT_TRUE(deployment && service);
  const YAML::Node pod = deployment["spec"]["template"]["spec"];
  expect_unprivileged(pod, "the collector");
  EXPECT_EQ(deployment["spec"]["replicas"].as<int>(), 1) << "one writer of the store";

  const YAML::Node collector = container(deployment, "collector");
  std::string db;
  for (const auto& arg : strings(collector["args"])) {
    if (arg.rfind("--db=", 0) == 0) db = arg.substr(5);
  }
  ASSERT_FALSE(db.empty());
  std::string claim_volume;
  for (const auto& volume : pod["volumes"]) {
    if (volume["persistentVolumeClaim"]) {
      const std::string claim = volume["persistentVolumeClaim"]["claimName"].as<std::string>();
      EXPECT_TRUE(object("PersistentVolumeClaim/" + claim)) << claim;
      claim_volume = volume["name"].as<std::string>();
    }
  }
  ASSERT_FALSE(claim_volume.empty()) << "no PersistentVolumeClaim volume";
  bool store_on_claim = false;
  for (const auto& mount : collector["volumeMounts"]) {
    const std::string path = mount["mountPath"].as<std::string>();
    store_on_claim = store_on_claim || (mount["name"].as<std::string>() == claim_volume &&
                                        db.rfind(path + "/", 0) == 0);
  }
  EXPECT_TRUE(store_on_claim) << db << " is not on the claim";

  std::set<int> ports;
  for (const auto& port : service["spec"]["ports"]) ports.insert(port["port"].as<int>());
  EXPECT_EQ(ports, (std::set<int>{7460, 7461}));
  for (const auto& label : service["spec"]["selector"]) {
    EXPECT_EQ(deployment["spec"]["template"]["metadata"]["labels"][label.first.as<std::string>()].as<std::string>(""),
              label.second.as<std::string>())
        << "the Service does not select the collector's pods";
  }
}

TEST_F(KubernetesManifests, AgentsReachTheCollectorServiceAndEverythingSharesOneNamespace) {
  const YAML::Node namespace_object = object("Namespace/sentinel");
  ASSERT_TRUE(namespace_object);
  for (const auto& [key, doc] : objects_) {
    if (doc["kind"].as<std::string>() == "Namespace") continue;
    EXPECT_EQ(doc["metadata"]["namespace"].as<std::string>(""), "sentinel") << key;
  }
  const auto args = strings(container(object("DaemonSet/sentinel-agent"), "agent")["args"]);
  EXPECT_NE(std::find(args.begin(), args.end(), "--collector=sentinel-collector.sentinel.svc:7460"), args.end());
  // One image placeholder, documented in the manifests, for both workloads.
  const std::regex placeholder("IMAGE_PLACEHOLDER");
  for (const char* key : {"DaemonSet/sentinel-agent", "Deployment/sentinel-collector"}) {
    const auto image = object(key)["spec"]["template"]["spec"]["containers"][0]["image"].as<std::string>("");
    EXPECT_TRUE(std::regex_search(image, placeholder)) << key << ": " << image;
  }
}

}  // namespace
}  // namespace sentinel::testing
