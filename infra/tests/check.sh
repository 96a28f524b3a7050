#!/usr/bin/env bash
# The infrastructure checks, without a cloud account:
#   1. the workflows and composite actions against the published schemas (check-jsonschema)
#   2. zizmor, the GitHub Actions security audit (ignores in .github/zizmor.yml, each with its reason)
#   3. every .tf file parses (python-hcl2) and every azurerm_*/google_* resource referenced is declared
#   4. checkov on infra/terraform (each skip justified inline)
#   5. ansible-playbook --syntax-check and ansible-lint on infra/ansible
#   6. the deploy_target role: --check against localhost, then applied for real into a
#      throwaway root twice, the second run changing nothing
#   7. the jenkins_controller role's configuration as code, rendered and checked
# Tools: pinned in infra/tests/requirements.txt, installed into target/infra-venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
venv=$root/target/infra-venv
start=$SECONDS

step() { printf '\n== infra: %s\n' "$*"; }

step "tools (target/infra-venv)"
stamp=$venv/.requirements.sha256
want=$(sha256sum infra/tests/requirements.txt | cut -d' ' -f1)
if [[ ! -x $venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r infra/tests/requirements.txt
    echo "$want" > "$stamp"
fi
export PATH=$venv/bin:$PATH
echo "check-jsonschema $(check-jsonschema --version | awk '{print $NF}'), $(zizmor --version)," \
    "checkov $(checkov --version), $(ansible --version | head -1), $(ansible-lint --version | head -1 | awk '{print "ansible-lint", $2}')"

step "schemas"
check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
check-jsonschema --builtin-schema vendor.github-actions .github/actions/*/action.yml

step "zizmor"
zizmor --offline --config .github/zizmor.yml .github

step "terraform: parse and references"
python3 - "$root/infra/terraform" <<'PY'
import pathlib, re, sys
import hcl2

base = pathlib.Path(sys.argv[1])
failed = False
for module in sorted({p.parent for p in base.rglob("*.tf")}):
    declared, texts = set(), {}
    for tf in sorted(module.glob("*.tf")):
        text = tf.read_text()
        texts[tf] = text
        try:
            doc = hcl2.loads(text)
        except Exception as exc:  # any parse error fails the check
            print(f"{tf}: does not parse: {exc}")
            failed = True
            continue
        for block in doc.get("resource", []):
            for rtype, named in block.items():
                for name in named:
                    declared.add((rtype.strip('"'), name.strip('"')))
        for block in doc.get("data", []):
            for rtype, named in block.items():
                for name in named:
                    declared.add(("data." + rtype.strip('"'), name.strip('"')))
    for tf, text in texts.items():
        for m in re.finditer(r"\b((?:data\.)?(?:azurerm|azuread|google)_[a-z0-9_]+)\.([a-z0-9_-]+)\.", text):
            if (m.group(1), m.group(2)) not in declared:
                line = text.count("\n", 0, m.start()) + 1
                print(f"{tf}:{line}: {m.group(1)}.{m.group(2)} is referenced but not declared in {module.name}/")
                failed = True
    print(f"{module.relative_to(base)}: {len(texts)} files parse, {len(declared)} resources and data sources, references resolve")
sys.exit(1 if failed else 0)
PY

step "checkov"
checkov -d infra/terraform --compact --quiet --skip-download

step "ansible: syntax and lint"
(
    cd infra/ansible
    ansible-playbook --syntax-check -i inventory/hosts.example.yml site.yml
    ansible-lint --offline
)

step "ansible: deploy_target in check mode against localhost, then applied to a throwaway root"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#!/bin/sh\necho pipeline-agent stand-in\n' > "$tmp/pipeline-agent"
cat > "$tmp/play.yml" <<'YML'
- name: Apply deploy_target
  hosts: localhost
  gather_facts: false
  roles:
    - role: deploy_target
YML
export ANSIBLE_ROLES_PATH=$root/infra/ansible/roles ANSIBLE_CONFIG=$root/infra/ansible/ansible.cfg
common=(-i localhost, -c local -e "ansible_python_interpreter=$venv/bin/python"
        -e "deploy_target_agent_src=$tmp/pipeline-agent" -e "deploy_target_token=not-a-real-token")
# The real paths, in check mode: nothing changes. No systemd runs here (not PID 1), so
# the service tasks are off; the unit file, user, directories and token are checked.
ansible-playbook "${common[@]}" --check -e deploy_target_manage_service=false "$tmp/play.yml" > "$tmp/check.log" \
    || { cat "$tmp/check.log"; exit 1; }
tail -n 2 "$tmp/check.log"
r=$tmp/root
throwaway=(-e deploy_target_manage_user=false -e deploy_target_manage_service=false
           -e "deploy_target_user=$(id -un)" -e "deploy_target_group=$(id -gn)"
           -e "deploy_target_bin_dir=$r/usr/local/bin" -e "deploy_target_state_dir=$r/var/lib/pipeline-agent"
           -e "deploy_target_unit_dir=$r/etc/systemd/system")
for run in 1 2; do
    ansible-playbook "${common[@]}" "${throwaway[@]}" "$tmp/play.yml" > "$tmp/run$run.log" \
        || { cat "$tmp/run$run.log"; exit 1; }
    recap=$(grep -E '^localhost +:' "$tmp/run$run.log")
    echo "run $run: $recap"
done
grep -q 'changed=0 ' <<< "$recap" || { echo "deploy_target is not idempotent"; cat "$tmp/run2.log"; exit 1; }
if grep -rq not-a-real-token "$tmp"/*.log; then echo "the token reached the log"; exit 1; fi
[[ $(stat -c %a "$r/var/lib/pipeline-agent") == 700 && $(stat -c %a "$r/var/lib/pipeline-agent/token") == 600 ]] \
    || { echo "state dir or token has the wrong mode"; exit 1; }
grep -q "^ExecStart=$r/usr/local/bin/pipeline-agent serve --state-dir $r/var/lib/pipeline-agent" \
    "$r/etc/systemd/system/pipeline-agent.service"
grep -q '^LimitNOFILE=65536$' "$r/etc/systemd/system/pipeline-agent.service" \
    || { echo "the unit does not raise the agent's open-file limit"; exit 1; }
echo "applied, idempotent, token not logged, modes 0700/0600, LimitNOFILE"

step "ansible: jenkins_controller's configuration as code, rendered"
# The role installs Jenkins from pkg.jenkins.io, which this machine cannot reach: its
# templates are rendered with the role's defaults and checked instead.
cat > "$tmp/jenkins.yml" <<'YML'
- name: Render jenkins_controller's templates
  hosts: localhost
  gather_facts: false
  vars_files:
    - "{{ role_dir }}/defaults/main.yml"
  tasks:
    - name: Render
      ansible.builtin.template:
        src: "{{ role_dir }}/templates/{{ item }}.j2"
        dest: "{{ out }}/{{ item }}"
        mode: "0600"
      loop: [jenkins.yaml, override.conf]
YML
ansible-playbook -i localhost, -c local -e "ansible_python_interpreter=$venv/bin/python" \
    -e "role_dir=$root/infra/ansible/roles/jenkins_controller" -e "out=$tmp" \
    -e jenkins_controller_git_token=not-a-real-token "$tmp/jenkins.yml" > "$tmp/jenkins.log" \
    || { cat "$tmp/jenkins.log"; exit 1; }
"$venv/bin/python" - "$tmp/jenkins.yaml" "$root/infra/jenkins/Jenkinsfile" <<'PY'
import sys, yaml
casc = yaml.safe_load(open(sys.argv[1]))
creds = casc["credentials"]["system"]["domainCredentials"][0]["credentials"]
assert creds[0]["string"]["id"] == "pipeline-git-token", creds
assert creds[0]["string"]["secret"] == "${PIPELINE_GIT_TOKEN}", "the token must come from the environment"
script = casc["jobs"][0]["script"]
assert "pipelineJob('release-pipeline')" in script and "scriptPath('infra/jenkins/Jenkinsfile')" in script, script
assert "credentials('pipeline-git-token')" in open(sys.argv[2]).read(), "the Jenkinsfile uses another credential"
assert casc["jenkins"]["securityRealm"]["local"]["allowsSignup"] is False
scm = [c["usernamePassword"] for c in creds if "usernamePassword" in c]
assert scm and scm[0]["id"] == "pipeline-git" and scm[0]["password"] == "${PIPELINE_GIT_TOKEN}", creds
assert "credentials('pipeline-git')" in script, "the checkout needs a username/password credential"
PY
grep -q '^Environment="SECRETS=/var/lib/jenkins/casc/secrets"$' "$tmp/override.conf"
if grep -qi 'EnvironmentFile\|PASSWORD=\|TOKEN=' "$tmp/override.conf"; then
    echo "override.conf hands secrets to Jenkins' environment (builds would inherit them)"; exit 1
fi
if grep -rq not-a-real-token "$tmp"/jenkins.*; then echo "the token reached the configuration"; exit 1; fi
echo "jenkins.yaml: the job, its credentials from secret files, no sign-up; override.conf: no secret in Jenkins' environment"

printf '\ninfra checks: 7 passed, 0 failed (%ss)\n' $((SECONDS - start))
