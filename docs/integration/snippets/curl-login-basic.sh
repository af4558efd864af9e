# The same login for a client_secret_basic client: its id and secret in an
# "Authorization: Basic" header instead of the body, the rest unchanged.
curl --silent --show-error --include "$PASSGATE_URL/oauth/token" \
    --user "$CLIENT_ID:$CLIENT_SECRET" \
    --header "auth0-forwarded-for: $END_USER_IP" \
    --data-urlencode "grant_type=password" \
    --data-urlencode "username=$LOGIN_USERNAME" \
    --data-urlencode "password=$LOGIN_PASSWORD" \
    --data-urlencode "audience=$API_AUDIENCE" \
    --data-urlencode "scope=openid profile email offline_access"
