# Sign-out: revoke the refresh token ($REFRESH_TOKEN) and the ones rotated from it.
curl --silent --show-error --include "$PASSGATE_URL/oauth/revoke" \
    --data-urlencode "client_id=$CLIENT_ID" \
    --data-urlencode "client_secret=$CLIENT_SECRET" \
    --data-urlencode "token=$REFRESH_TOKEN"
