# Shared by the pinned perf scripts (sourced, not run): the nginx upstream serving 100 bytes on
# core 1, and the bench's Legate config.

# start_nginx_upstream DIR PORT: nginx (1 worker, daemonized, pid in DIR/nginx.pid) on core 1.
start_nginx_upstream() {
  local dir=$1 port=$2
  mkdir -p "$dir/www" && head -c 100 /dev/zero | tr '\0' x > "$dir/www/index.html"
  cat > "$dir/nginx.conf" <<CONF
worker_processes 1; pid $dir/nginx.pid; error_log $dir/error.log; daemon on;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:${port}; location / { root $dir/www; } } }
CONF
  chmod 755 "$dir"
  taskset -c 1 nginx -c "$dir/nginx.conf"
}

# write_legate_config NODE FILE PROXY_PORT UP_PORT: the config bench/targets/legate.ts generates.
write_legate_config() {
  "$1" -e "import('./bench/targets/legate.ts').then((m) => process.stdout.write(m.legateConfig($3, $4)))" > "$2"
}
